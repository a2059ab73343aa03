// End-to-end benchmark of the spine, measured on the real binary
// (`reportbridge once`) side by side with the obvious alternative: a
// stdlib-only Python script doing the same job (bench/baseline/python_baseline.py).
//
// For each size it generates one store (no attachments), then, --runs times,
// runs the bridge and the baseline alternately (which goes first alternates
// too), each on a fresh copy of the store and from a clean state and drop
// folder, and reports per run and as medians: wall time, submissions per
// second, CPU time, peak RSS (wait4's rusage), and the bytes each wrote, by
// kind of file (counted by an LD_PRELOAD shim, bench/io_count). It also times
// a raw scan reading every payload through SQLite's C API: the ceiling.
// The ratio bridge/baseline is the number to quote: absolute times on a
// shared machine move 10-25 % between runs, a ratio measured side by side
// much less.
//
//   reportbridge-bench [--sizes 100000,1000000] [--runs 3] [--work DIR] [--keep]
//                      [--dedup] [--python PYTHON] [--no-baseline]
#include <sqlite3.h>
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
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct RunResult {
  double seconds = 0;
  double cpu_seconds = 0;
  long max_rss_kib = 0;
  int status = 0;
  std::map<std::string, double> bytes;  // by kind of file
};

// Runs argv (argv[0] looked up on PATH when it has no slash), output to `log`.
RunResult run(const std::vector<std::string>& argv, const std::string& log, const fs::path& cwd,
              const std::vector<std::string>& env = {}) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  RunResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  r.max_rss_kib = ru.ru_maxrss;
  r.status = status;
  return r;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
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

// The counts io_count wrote ("kind bytes" lines).
std::map<std::string, double> read_counts(const fs::path& file) {
  std::map<std::string, double> out;
  std::ifstream in(file);
  std::string kind;
  double n = 0;
  while (in >> kind >> n) out[kind] += n;
  return out;
}

// Reads every payload once, as the cheapest possible consumer would.
double raw_scan(const fs::path& store) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(store.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return -1;
  auto start = std::chrono::steady_clock::now();
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT seq, id, version, payload FROM submissions ORDER BY seq", -1, &st, nullptr);
  std::size_t bytes = 0;
  while (sqlite3_step(st) == SQLITE_ROW) bytes += static_cast<std::size_t>(sqlite3_column_bytes(st, 3));
  sqlite3_finalize(st);
  sqlite3_close(db);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return bytes > 0 ? s : -1;
}

struct Series {
  std::vector<double> seconds, cpu, rss_mib;
  std::map<std::string, std::vector<double>> bytes;
};

void print_run(const char* who, long n, int r, const RunResult& res) {
  double written = 0;
  for (const auto& [k, v] : res.bytes)
    if (k != "store" && k != "other") written += v;
  std::printf("%-9ld %-9s %-4d %9.2f %11.0f %9.2f %9.1f %12.0f\n", n, who, r, res.seconds,
              static_cast<double>(n) / res.seconds, res.cpu_seconds, static_cast<double>(res.max_rss_kib) / 1024.0,
              written / static_cast<double>(n));
  std::fflush(stdout);
}

void add(Series& s, const RunResult& r) {
  s.seconds.push_back(r.seconds);
  s.cpu.push_back(r.cpu_seconds);
  s.rss_mib.push_back(static_cast<double>(r.max_rss_kib) / 1024.0);
  for (const auto& [k, v] : r.bytes) s.bytes[k].push_back(v);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes{100000, 1000000};
  int runs = 3;
  fs::path work = fs::temp_directory_path() / "reportbridge-bench";
  bool keep = false;
  bool dedup = false;  // --dedup: the `dedup: {}` section (off by default, as in a fresh config)
  bool baseline = true;
  std::string python = "python3";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) sizes.push_back(std::stol(item));
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--work" && i + 1 < argc) {
      work = argv[++i];
    } else if (a == "--python" && i + 1 < argc) {
      python = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--dedup") {
      dedup = true;
    } else if (a == "--no-baseline") {
      baseline = false;
    } else {
      std::cout << "usage: reportbridge-bench [--sizes N,M] [--runs R] [--work DIR] [--keep] [--dedup]"
                   " [--python PYTHON] [--no-baseline]\n";
      return a == "--help" ? 0 : 2;
    }
  }
  work = fs::absolute(work);
  const std::string shim = std::string("LD_PRELOAD=") + REPORTBRIDGE_IO_COUNT;
  std::printf("bridge: %s%s; baseline: %s %s\n", REPORTBRIDGE_BINARY, dedup ? " (dedup on)" : "",
              baseline ? python.c_str() : "(off)", REPORTBRIDGE_SOURCE_DIR "/bench/baseline/python_baseline.py");
  std::printf("%-9s %-9s %-4s %9s %11s %9s %9s %12s\n", "rows", "who", "run", "wall s", "rows/s", "CPU s",
              "RSS MiB", "B written/row");
  for (long n : sizes) {
    const fs::path dir = work / std::to_string(n);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path master = dir / "master.db";
    auto gen = run({REPORTBRIDGE_GEN_STORE, "--db", master.string(), "--media-root", (dir / "media").string(),
                    "--count", std::to_string(n), "--seed", "1", "--attachment-rate", "0"},
                   (dir / "gen.log").string(), {});
    if (gen.status != 0) {
      std::cerr << "generator failed, see " << (dir / "gen.log") << "\n";
      return 1;
    }
    write_config(dir, dedup);
    Series bridge, python_series;
    std::vector<double> scans, ratios;
    for (int r = 1; r <= runs; ++r) {
      // The one that goes first alternates, so neither always meets a cold cache.
      const bool bridge_first = r % 2 == 1;
      double bridge_s = 0, python_s = 0;
      for (int k = 0; k < 2; ++k) {
        const bool is_bridge = (k == 0) == bridge_first;
        if (!is_bridge && !baseline) continue;
        fs::remove_all(dir / "state");
        fs::remove_all(dir / "out");
        fs::remove_all(dir / "py");
        fs::remove(dir / "store.db");
        fs::remove(dir / "store.db-wal");
        fs::remove(dir / "store.db-shm");
        fs::copy_file(master, dir / "store.db");
        // Let the kernel finish writing the copy, so the run does not compete with that I/O.
        sync();
        const fs::path counts = dir / (is_bridge ? "io-bridge.txt" : "io-python.txt");
        fs::remove(counts);
        RunResult res;
        if (is_bridge) {
          res = run({REPORTBRIDGE_BINARY, "once", "--config", (dir / "bench.yaml").string()},
                    (dir / "bridge.log").string(), dir,
                    {shim, "IO_COUNT_OUT=" + counts.string(),
                     "IO_COUNT_CATEGORIES=wal=state.db-wal,state=/state/state.db,audit=/state/audit/,"
                     "drops=/out/,store=/store.db"});
        } else {
          fs::create_directories(dir / "py");
          res = run({python, REPORTBRIDGE_SOURCE_DIR "/bench/baseline/python_baseline.py", "store.db",
                     "py/state.db", "py/out"},
                    (dir / "python.log").string(), dir,
                    {shim, "IO_COUNT_OUT=" + counts.string(),
                     "IO_COUNT_CATEGORIES=state=/py/state.db,drops=/py/out/,store=/store.db"});
        }
        if (res.status != 0) {
          std::cerr << (is_bridge ? "bridge" : "baseline") << " failed, see "
                    << (dir / (is_bridge ? "bridge.log" : "python.log")) << "\n";
          return 1;
        }
        res.bytes = read_counts(counts);
        print_run(is_bridge ? "bridge" : "python", n, r, res);
        add(is_bridge ? bridge : python_series, res);
        (is_bridge ? bridge_s : python_s) = res.seconds;
      }
      if (baseline) ratios.push_back(python_s / bridge_s);
      scans.push_back(raw_scan(master));
    }
    const double b = median(bridge.seconds);
    std::printf("-- %ld rows, medians of %d run(s):\n", n, runs);
    std::printf("   bridge   %9.2f s  %9.0f rows/s  CPU %6.2f s  peak RSS %6.1f MiB\n", b, n / b,
                median(bridge.cpu), median(bridge.rss_mib));
    if (baseline) {
      const double p = median(python_series.seconds);
      std::printf("   python   %9.2f s  %9.0f rows/s  CPU %6.2f s  peak RSS %6.1f MiB\n", p, n / p,
                  median(python_series.cpu), median(python_series.rss_mib));
      std::printf("   ratio    %.2fx (median of the %d side-by-side ratios; ratio of medians %.2fx)\n",
                  median(ratios), runs, p / b);
    }
    const double scan = median(scans);
    std::printf("   raw scan %9.2f s  %9.0f rows/s  (every payload read through the SQLite C API: the ceiling)\n",
                scan, n / scan);
    auto per_row = [&](const Series& s, const char* kind) {
      auto it = s.bytes.find(kind);
      return it == s.bytes.end() ? 0.0 : median(it->second) / static_cast<double>(n);
    };
    std::printf("   bytes written per submission, bridge: state db %.0f, WAL %.0f, audit %.0f, drops %.0f"
                " = %.0f; to the app's store (write-back) %.0f\n",
                per_row(bridge, "state"), per_row(bridge, "wal"), per_row(bridge, "audit"), per_row(bridge, "drops"),
                per_row(bridge, "state") + per_row(bridge, "wal") + per_row(bridge, "audit") +
                    per_row(bridge, "drops"),
                per_row(bridge, "store"));
    if (baseline)
      std::printf("   bytes written per submission, python: state db %.0f, drops %.0f = %.0f;"
                  " to the app's store %.0f\n",
                  per_row(python_series, "state"), per_row(python_series, "drops"),
                  per_row(python_series, "state") + per_row(python_series, "drops"),
                  per_row(python_series, "store"));
    std::fflush(stdout);
    if (!keep) fs::remove_all(dir);
  }
  return 0;
}
