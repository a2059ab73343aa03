# Included from bench/CMakeLists.txt: `reportbridge-dedup-bench --help`.
add_executable(reportbridge_dedup_bench ${PROJECT_SOURCE_DIR}/bench/dedup_bench.cpp)
set_target_properties(reportbridge_dedup_bench PROPERTIES OUTPUT_NAME reportbridge-dedup-bench)
target_link_libraries(reportbridge_dedup_bench PRIVATE reportbridge::options reportbridge::dedup)
