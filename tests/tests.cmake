# Network module: unit tests of request authentication and the raw-request helper.
xchg_unit_test(netauth)
# Process hardening: no core dumps, not dumpable, SIGXFSZ ignored (EFBIG reported).
xchg_unit_test(process)
add_executable(netsign tools/netsign.c)
target_link_libraries(netsign PRIVATE exchange_static)
