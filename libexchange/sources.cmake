# Sources added by the network module (request authentication, extract status).
list(APPEND XCHG_LIB_SOURCES netauth.c store_status.c)
# The linkage engine's Dice kernel (issue 13): run-time dispatch generic|popcnt|avx2|avx512.
list(APPEND XCHG_LIB_SOURCES dice_kernel.c)
# Output neutralisation (CSV formula injection, terminal control characters) and the
# consent decision shared by sealing and release.
list(APPEND XCHG_LIB_SOURCES textsafe.c consent.c)
# Process hardening for every program that holds secret keys (no core dumps, SIGXFSZ).
list(APPEND XCHG_LIB_SOURCES process.c)
