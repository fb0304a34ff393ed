# xchg console (docs/console.md): the verb, its request handling, and the page under
# tools/console/ embedded at build time (no file is read at run time, nothing downloaded).
set(XCHG_CONSOLE_ASSETS ${CMAKE_CURRENT_SOURCE_DIR}/console/index.html
  ${CMAKE_CURRENT_SOURCE_DIR}/console/app.js ${CMAKE_CURRENT_SOURCE_DIR}/console/app.css)
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/console_assets.c
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_CURRENT_SOURCE_DIR}/console
    -DOUT=${CMAKE_CURRENT_BINARY_DIR}/console_assets.c
    -P ${CMAKE_CURRENT_SOURCE_DIR}/console/embed.cmake
  DEPENDS ${XCHG_CONSOLE_ASSETS} ${CMAKE_CURRENT_SOURCE_DIR}/console/embed.cmake
  COMMENT "Embedding the operator console's page")
add_library(xchg_console STATIC ${CMAKE_CURRENT_SOURCE_DIR}/console_api.c
  ${CMAKE_CURRENT_BINARY_DIR}/console_assets.c)
target_include_directories(xchg_console PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(xchg_console PUBLIC exchange_static PkgConfig::JANSSON)
find_package(Threads REQUIRED)
target_link_libraries(xchg_console PUBLIC Threads::Threads)
target_sources(xchg PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cmd_console.c
  ${CMAKE_CURRENT_SOURCE_DIR}/console_remote.c ${CMAKE_CURRENT_SOURCE_DIR}/operator_wire.c)
target_link_libraries(xchg PRIVATE xchg_console PkgConfig::MHD)
# the daemon's operator endpoints for `xchg console --url` write the JSON the console reads
target_sources(xchg-matcherd PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/operator_wire.c)
