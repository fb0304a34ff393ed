# Sources added by the network module (request authentication, extract status).
list(APPEND XCHG_LIB_SOURCES netauth.c store_status.c)
