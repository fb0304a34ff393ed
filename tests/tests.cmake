# Network module: unit tests of request authentication and the raw-request helper.
xchg_unit_test(netauth)
# Process hardening: no core dumps, not dumpable, SIGXFSZ ignored (EFBIG reported).
xchg_unit_test(process)
add_executable(netsign tools/netsign.c)
target_link_libraries(netsign PRIVATE exchange_static)
# A bounded slow-request (slowloris) attacker on loopback for tests/cli/slowloris.sh and
# bench/slowloris.sh: TLS through OpenSSL, which the library already links.
add_executable(slowloris tools/slowloris.c)
target_link_libraries(slowloris PRIVATE PkgConfig::OPENSSL_SSL PkgConfig::OPENSSL)
# Disclosure control for the published reports: suppression, rounding, the attacker's LP.
xchg_unit_test(sdc)
