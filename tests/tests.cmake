# Network module: unit tests of request authentication and the raw-request helper.
xchg_unit_test(netauth)
add_executable(netsign tools/netsign.c)
target_link_libraries(netsign PRIVATE exchange_static)
