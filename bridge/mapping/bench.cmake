# reportbridge-mapping-bench (bench/mapping_bench.cpp): mapping cost per submission.
add_executable(reportbridge_mapping_bench ${PROJECT_SOURCE_DIR}/bench/mapping_bench.cpp)
set_target_properties(reportbridge_mapping_bench PROPERTIES OUTPUT_NAME reportbridge-mapping-bench)
target_link_libraries(reportbridge_mapping_bench PRIVATE reportbridge::options reportbridge::mapping
  reportbridge::gen_store Boost::json)
target_compile_definitions(reportbridge_mapping_bench PRIVATE REPORTBRIDGE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
