// Mapping cost per submission: compiles mappings/rms_community_report.yaml
// once, then applies it to realistic generated submissions (already parsed:
// parsing is the pipeline's cost, not the mapping's). Prints the median over
// several runs of ns per submission, wall clock and this thread's CPU time
// (on a shared machine the wall clock includes time the thread was waiting
// for a core). Target: < 5 µs.
//
//   reportbridge-mapping-bench [--count N] [--runs R] [--mapping FILE --target T]
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "bridge/mapping/mapping.hpp"
#include "tools/gen_store/generator.hpp"

using namespace reportbridge;

int main(int argc, char** argv) {
  long count = 100000;
  int runs = 7;
  const std::string dir = std::string(REPORTBRIDGE_SOURCE_DIR) + "/mappings/";
  std::string file = dir + "rms_community_report.yaml", target = "rms_soap";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--count")) count = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--mapping")) file = argv[i + 1];
    else if (!std::strcmp(argv[i], "--target")) target = argv[i + 1];
  }
  if (count <= 0 || runs <= 0) {
    std::fprintf(stderr, "usage: reportbridge-mapping-bench [--count N] [--runs R] [--mapping FILE --target T]\n");
    return 2;
  }
  core::Diagnostics diags;
  auto set = mapping::MappingSet::load({file}, {target}, diags);
  if (!set) {
    std::fprintf(stderr, "%s", diags.to_string().c_str());
    return 1;
  }
  const auto& rms = set->mappings().front();
  std::size_t name_field = 0;
  for (std::size_t i = 0; i < rms.fields.size(); ++i)
    if (rms.fields[i].from && rms.fields[i].from->text == "reporter.name") name_field = i;

  std::vector<boost::json::value> docs;
  docs.reserve(static_cast<std::size_t>(count));
  for (long i = 0; i < count; ++i) {
    auto v = boost::json::parse(gen::make_payload(42, i));
    // The RMS mapping takes concerns and information; make every one count.
    v.as_object()["kind"] = (i % 2) ? "concern" : "information";
    docs.push_back(std::move(v));
  }

  auto cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  std::vector<double> per_item, cpu_per_item;
  long failed = 0, withheld = 0;
  for (int r = 0; r < runs; ++r) {
    failed = withheld = 0;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_ns();
    for (const auto& d : docs) {
      auto res = mapping::apply(rms, target, d, "id", 1);
      if (res.error) ++failed;
      else if (name_field && !res.record->fields[name_field].value) ++withheld;
    }
    const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    per_item.push_back(ns / static_cast<double>(count));
    cpu_per_item.push_back((cpu_ns() - cpu_start) / static_cast<double>(count));
  }
  std::sort(per_item.begin(), per_item.end());
  std::sort(cpu_per_item.begin(), cpu_per_item.end());
  std::printf("mapping %s: %ld submissions x %d runs\n", rms.name.c_str(), count, runs);
  std::printf("  median %.0f ns per submission (min %.0f, max %.0f); target < 5000 ns\n",
              per_item[per_item.size() / 2], per_item.front(), per_item.back());
  std::printf("  cpu time: median %.0f ns per submission (min %.0f, max %.0f)\n",
              cpu_per_item[cpu_per_item.size() / 2], cpu_per_item.front(), cpu_per_item.back());
  std::printf("  mapping failures %ld, contact details withheld %ld\n", failed, withheld);
  return 0;
}
