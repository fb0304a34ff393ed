# Sources added by the network module (request authentication, extract status).
list(APPEND XCHG_LIB_SOURCES netauth.c store_status.c)
# Process hardening for every program that holds secret keys (no core dumps, SIGXFSZ).
list(APPEND XCHG_LIB_SOURCES process.c)
