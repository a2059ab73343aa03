// End-to-end benchmark of the spine: store -> validate -> map -> CSV drop, with
// state committed per batch, measured on the real binary (`reportbridge once`).
//
// For each size it generates one store (no attachments), then runs the bridge
// --runs times from a clean state and drop folder, and reports the median
// throughput and the peak RSS of the bridge process (from wait4's rusage).
//
//   reportbridge-bench [--sizes 100000,1000000] [--runs 3] [--work DIR] [--keep]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct RunResult {
  double seconds = 0;
  long max_rss_kib = 0;
  int status = 0;
};

RunResult run(const std::vector<std::string>& argv, const std::string& log) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  RunResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.max_rss_kib = ru.ru_maxrss;
  r.status = status;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void write_config(const fs::path& dir, bool dedup) {
  std::ofstream c(dir / "bench.yaml");
  c << "state:\n  path: state/state.db\n"
       "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n  batch_size: 5000\n"
       "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
       "mappings: [" REPORTBRIDGE_SOURCE_DIR "/mappings/npt_community_report.yaml, "
       REPORTBRIDGE_SOURCE_DIR "/mappings/psd_feedback.yaml]\n"
       "targets:\n"
       "  - name: npt_csv\n    type: csv_drop\n    directory: out/npt\n    max_rows: 10000\n"
       "  - name: psd_csv\n    type: csv_drop\n    directory: out/psd\n    max_rows: 10000\n"
       "    encoding: windows-1252\n"
       "logging:\n  level: warn\n";
  if (dedup) c << "dedup: {}\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes{100000, 1000000};
  int runs = 3;
  fs::path work = fs::temp_directory_path() / "reportbridge-bench";
  bool keep = false;
  bool dedup = false;  // --dedup: the `dedup: {}` section (off by default, as in a fresh config)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) sizes.push_back(std::stol(item));
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--work" && i + 1 < argc) {
      work = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--dedup") {
      dedup = true;
    } else {
      std::cout << "usage: reportbridge-bench [--sizes N,M] [--runs R] [--work DIR] [--keep] [--dedup]\n";
      return a == "--help" ? 0 : 2;
    }
  }
  std::printf("%-10s %-6s %12s %12s %14s\n", "rows", "run", "seconds", "rows/s", "peak RSS MiB");
  for (long n : sizes) {
    fs::path dir = work / std::to_string(n);
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto gen = run({REPORTBRIDGE_GEN_STORE, "--db", (dir / "store.db").string(), "--media-root",
                    (dir / "media").string(), "--count", std::to_string(n), "--seed", "1",
                    "--attachment-rate", "0"},
                   (dir / "gen.log").string());
    if (gen.status != 0) {
      std::cerr << "generator failed, see " << (dir / "gen.log") << "\n";
      return 1;
    }
    // Let the kernel finish writing the generated store, so the first timed
    // run does not compete with that I/O.
    sync();
    write_config(dir, dedup);
    std::vector<double> rates, rss;
    for (int r = 1; r <= runs; ++r) {
      fs::remove_all(dir / "state");
      fs::remove_all(dir / "out");
      auto res = run({REPORTBRIDGE_BINARY, "once", "--config", (dir / "bench.yaml").string()},
                     (dir / "bridge.log").string());
      if (res.status != 0) {
        std::cerr << "bridge failed, see " << (dir / "bridge.log") << "\n";
        return 1;
      }
      double rate = static_cast<double>(n) / res.seconds;
      rates.push_back(rate);
      rss.push_back(static_cast<double>(res.max_rss_kib) / 1024.0);
      std::printf("%-10ld %-6d %12.2f %12.0f %14.1f\n", n, r, res.seconds, rate, rss.back());
      std::fflush(stdout);
    }
    std::printf("%-10ld %-6s %12s %12.0f %14.1f\n", n, "median", "", median(rates), median(rss));
    if (!keep) fs::remove_all(dir);
  }
  return 0;
}
