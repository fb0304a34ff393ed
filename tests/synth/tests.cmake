# xchg-synth tests (issue 3): an independent checker plus shell drivers.
add_executable(synth_check ${CMAKE_CURRENT_SOURCE_DIR}/synth/synth_check.c)
target_link_libraries(synth_check PRIVATE xchg_csv)

file(GLOB XCHG_SYNTH_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/synth/*.sh)
foreach(script ${XCHG_SYNTH_TESTS})
  get_filename_component(n ${script} NAME_WE)
  add_test(NAME synth.${n} COMMAND bash ${script})
  set_tests_properties(synth.${n} PROPERTIES TIMEOUT 120 ENVIRONMENT
    "SYNTH=$<TARGET_FILE:xchg-synth>;SYNTH_CHECK=$<TARGET_FILE:synth_check>;SYNTH_PROGRAMME_CHECK=$<TARGET_FILE:synth_programme_check>;XCHG_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")
endforeach()
add_executable(synth_programme_check ${CMAKE_CURRENT_SOURCE_DIR}/synth/synth_programme_check.c)
target_link_libraries(synth_programme_check PRIVATE xchg_csv)
