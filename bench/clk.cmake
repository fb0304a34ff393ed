# CLK encoder and Dice benchmark (bench/clk_bench.c). Not a test: run it by hand on a
# Release build, see the comment at the top of clk_bench.c and docs/clk.md "Performance".
add_executable(xchg-clk-bench ${CMAKE_CURRENT_LIST_DIR}/clk_bench.c)
target_link_libraries(xchg-clk-bench PRIVATE exchange_static)
target_compile_definitions(xchg-clk-bench PRIVATE
  XCHG_CLK_BENCH_KAT_DIR="${PROJECT_SOURCE_DIR}/tests/kat/clkhash")
