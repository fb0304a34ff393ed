# The network verbs of xchg (submit, fetch-packets) and the matcher daemon.
list(APPEND XCHG_TOOL_SOURCES cmd_net.c)
add_executable(xchg-matcherd ${CMAKE_CURRENT_SOURCE_DIR}/matcherd.c
  ${CMAKE_CURRENT_SOURCE_DIR}/httpd_common.c ${CMAKE_CURRENT_SOURCE_DIR}/cli.c)
target_link_libraries(xchg-matcherd PRIVATE exchange_static PkgConfig::MHD)
install(TARGETS xchg-matcherd DESTINATION ${CMAKE_INSTALL_SBINDIR}) # a daemon: section 8
# The agreement's OPRF key service (docs/keyd.md), on the same HTTPS stack.
add_executable(xchg-keyd ${CMAKE_CURRENT_SOURCE_DIR}/xchg-keyd.c
  ${CMAKE_CURRENT_SOURCE_DIR}/httpd_common.c ${CMAKE_CURRENT_SOURCE_DIR}/cli.c)
target_link_libraries(xchg-keyd PRIVATE exchange_static PkgConfig::MHD)
install(TARGETS xchg-keyd DESTINATION ${CMAKE_INSTALL_SBINDIR}) # a daemon: section 8
# xchg seal's client of the key service (OPRF mode, libcurl)
list(APPEND XCHG_TOOL_SOURCES keyd_client.c)
