# Network module: unit tests of request authentication and the raw-request helper.
xchg_unit_test(netauth)
# The verifiable OPRF of the key service (xchg-keyd): vector, tampering, blinding.
xchg_unit_test(oprf)
# Sealing in OPRF mode; the wrap records every input the seal hands the OPRF client.
xchg_unit_test(oprf_seal)
target_link_options(test_oprf_seal PRIVATE -Wl,--wrap=xchg_oprf_client_add)
# The key service's rules: authentication, the daily limit, the hash-chained log, restarts.
xchg_unit_test(oprf_service)
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
xchg_unit_test(queue)
# The recovery attack on a store's report (tests/report/report.sh, bench/report-bench.sh).
add_executable(report_attack tools/report_attack.c)
target_link_libraries(report_attack PRIVATE exchange_static)
target_include_directories(report_attack PRIVATE ${XCHG_PRIVATE_INCLUDES})
# xchg report end to end on the demo county; its HTML is then rendered in headless
# Chromium (skipped, exit 77, only when no chromium is installed; CI installs it).
set(XCHG_REPORT_ENV "XCHG=$<TARGET_FILE:xchg>;XCHG_SYNTH=$<TARGET_FILE:xchg-synth>;XCHG_REPORT_ATTACK=$<TARGET_FILE:report_attack>;XCHG_SOURCE_DIR=${PROJECT_SOURCE_DIR};XCHG_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;XCHG_REPORT_OUT=${CMAKE_CURRENT_BINARY_DIR}/report-demo")
add_test(NAME cli.report COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report/report.sh)
set_tests_properties(cli.report PROPERTIES ENVIRONMENT "${XCHG_REPORT_ENV}"
  FIXTURES_SETUP report_demo TIMEOUT 300)
add_test(NAME cli.report_html COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report/html.sh)
set_tests_properties(cli.report_html PROPERTIES ENVIRONMENT "${XCHG_REPORT_ENV}"
  FIXTURES_REQUIRED report_demo SKIP_RETURN_CODE 77 TIMEOUT 180)
# The recovery attack on a 300,000-person county (a few minutes on two cores).
add_test(NAME cli.report_county COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report/county.sh)
set_tests_properties(cli.report_county PROPERTIES ENVIRONMENT "${XCHG_REPORT_ENV};PEOPLE=300000"
  TIMEOUT 1200 LABELS slow)
# cmake --install into a DESTDIR: layout, man pages render, completion, a program built
# against the installed exchange.pc (tests/install/install.sh).
add_test(NAME cli.install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/install.sh)
set_tests_properties(cli.install PROPERTIES ENVIRONMENT
  "XCHG_SOURCE_DIR=${PROJECT_SOURCE_DIR};XCHG_BUILD_DIR=${PROJECT_BINARY_DIR};XCHG_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")
# The operator console (docs/console.md): its JSON API (every refusal, decisions exactly as
# the CLI makes them) on a demo-county store, and the browser test in headless Chromium.
add_executable(test_console_api console/test_console_api.c)
target_link_libraries(test_console_api PRIVATE xchg_console PkgConfig::CMOCKA)
target_include_directories(test_console_api PRIVATE ${XCHG_PRIVATE_INCLUDES})
set(XCHG_CONSOLE_ENV "XCHG=$<TARGET_FILE:xchg>;XCHG_SYNTH=$<TARGET_FILE:xchg-synth>;CONSOLE_API_TEST=$<TARGET_FILE:test_console_api>;XCHG_SOURCE_DIR=${PROJECT_SOURCE_DIR};XCHG_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;CMOCKA_MESSAGE_OUTPUT=stdout")
add_test(NAME console.api COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/console/api.sh)
set_tests_properties(console.api PROPERTIES ENVIRONMENT "${XCHG_CONSOLE_ENV}"
  SKIP_RETURN_CODE 77 TIMEOUT 300)
add_executable(cdp console/cdp.c)
target_link_libraries(cdp PRIVATE PkgConfig::JANSSON)
add_test(NAME console.browser COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/console/browser.sh)
set_tests_properties(console.browser PROPERTIES ENVIRONMENT
  "${XCHG_CONSOLE_ENV};XCHG_CDP=$<TARGET_FILE:cdp>;XCHG_CONSOLE_OUT=${CMAKE_CURRENT_BINARY_DIR}/console-artefacts"
  SKIP_RETURN_CODE 77 TIMEOUT 300)
# remote mode: xchg console --url through xchg-matcherd (tests/console/remote.sh)
add_executable(decision_sign tools/decision_sign.c)
target_link_libraries(decision_sign PRIVATE exchange_static)
target_include_directories(decision_sign PRIVATE ${XCHG_PRIVATE_INCLUDES})
add_test(NAME console.remote COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/console/remote.sh)
set_tests_properties(console.remote PROPERTIES ENVIRONMENT
  "${XCHG_CONSOLE_ENV};XCHG_MATCHERD=$<TARGET_FILE:xchg-matcherd>;XCHG_NETSIGN=$<TARGET_FILE:netsign>;XCHG_DECISION_SIGN=$<TARGET_FILE:decision_sign>"
  SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME console.cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/console/cli.sh)
set_tests_properties(console.cli PROPERTIES ENVIRONMENT "${XCHG_CONSOLE_ENV}"
  SKIP_RETURN_CODE 77 TIMEOUT 300)
# What the matcher's store and one recipient's key read together without the tools
# (tests/cli/threshold.sh, docs/release.md "The release key").
add_executable(release_attack tools/release_attack.c)
target_link_libraries(release_attack PRIVATE exchange_static)
target_include_directories(release_attack PRIVATE ${XCHG_PRIVATE_INCLUDES})
