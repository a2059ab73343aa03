// Accuracy and cost of deduplication against the generator's ground truth.
//
//   reportbridge-dedup-bench --gen /work/shared/tools/gen_submissions.py
//       [--work DIR] [--count N] [--seed S] [--tail N] [--cache-mib M] [--reuse] [--dump FILE]
//       [-- generator args...]
//
// Generates a store with truth (python3 gen_submissions.py ... --truth), feeds
// every valid row in seq order through Deduplicator::check_and_record (one
// transaction per 5,000 rows, as ingest batches), and prints precision and
// recall per class plus microseconds per submission, overall and for the
// last --tail rows (measured with the whole history already indexed). The
// state database is opened as the daemon opens it (WAL, synchronous=NORMAL,
// page cache --cache-mib, default 16 MiB as state_store's default).
#include <boost/json.hpp>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge/dedup/deduplicator.hpp"
#include "bridge/store/sqlite.hpp"

namespace {

namespace json = boost::json;
using reportbridge::dedup::Verdict;

struct Truth {
  std::string label;
  bool valid = false;
  std::string of;  // exact_dup_of / near_dup_of / update_of
};

struct Counts {
  std::size_t tp = 0, fp = 0, fn = 0;
  double precision() const { return tp + fp == 0 ? 1.0 : static_cast<double>(tp) / static_cast<double>(tp + fp); }
  double recall() const { return tp + fn == 0 ? 1.0 : static_cast<double>(tp) / static_cast<double>(tp + fn); }
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

int usage() {
  std::cerr << "usage: reportbridge-dedup-bench --gen PATH/gen_submissions.py [--work DIR] [--count N] "
               "[--seed S] [--tail N] [--cache-mib M] [--reuse] [--dump FILE] [-- generator args...]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string gen, work = "/tmp/reportbridge-dedup-bench", extra, dump_path;
  long count = 100000, seed = 1, tail = 10000, cache_mib = 16;
  bool reuse = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--gen") gen = next();
      else if (a == "--work") work = next();
      else if (a == "--count") count = std::stol(next());
      else if (a == "--seed") seed = std::stol(next());
      else if (a == "--tail") tail = std::stol(next());
      else if (a == "--cache-mib") cache_mib = std::stol(next());
      else if (a == "--reuse") reuse = true;
      else if (a == "--dump") dump_path = next();
      else if (a == "--") {
        for (++i; i < argc; ++i) extra += " " + quote(argv[i]);
      } else return usage();
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      return usage();
    }
  }
  if (gen.empty() || count <= 0 || cache_mib <= 0) return usage();

  namespace fs = std::filesystem;
  fs::create_directories(work);
  const std::string store_path = (fs::path(work) / "store.db").string();
  const std::string truth_path = (fs::path(work) / "truth.jsonl").string();
  const std::string state_path = (fs::path(work) / "state.db").string();
  if (!reuse || !fs::exists(store_path) || !fs::exists(truth_path)) {
    const std::string cmd = "python3 " + quote(gen) + " --db " + quote(store_path) + " --truth " + quote(truth_path) +
                            " --force --count " + std::to_string(count) + " --seed " + std::to_string(seed) +
                            " --now 2026-11-27T00:00:00Z" + extra;
    std::cout << "generating: " << cmd << "\n" << std::flush;
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "generator failed\n";
      return 1;
    }
  }
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(state_path + suffix);

  std::unordered_map<std::int64_t, Truth> truth;
  {
    std::ifstream in(truth_path);
    std::string line;
    while (std::getline(in, line)) {
      auto v = json::parse(line).as_object();
      Truth t;
      t.label = std::string(v.at("label").as_string());
      t.valid = v.at("valid").as_bool();
      for (const char* k : {"exact_dup_of", "near_dup_of", "update_of"})
        if (v.at(k).is_string()) t.of = std::string(v.at(k).as_string());
      truth[v.at("seq").as_int64()] = std::move(t);
    }
  }

  reportbridge::store::Database store(store_path, reportbridge::store::Database::Mode::read_only);
  reportbridge::store::Database state(state_path, reportbridge::store::Database::Mode::read_write_create);
  // As the daemon's state store opens it.
  state.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=16000; "
             "PRAGMA journal_size_limit=67108864; PRAGMA cache_size=-" + std::to_string(cache_mib * 1024));
  store.exec("PRAGMA cache_size=-65536");
  reportbridge::dedup::Deduplicator dedup(state, {});

  std::int64_t total_rows = 0;
  {
    auto st = store.prepare("SELECT COUNT(*) FROM submissions");
    st.step();
    total_rows = st.int64(0);
  }
  const std::int64_t tail_from = std::max<std::int64_t>(0, total_rows - tail);

  std::map<std::string, Counts> counts;
  std::size_t checked = 0, tail_checked = 0;
  std::map<std::string, std::string> wrong_examples;
  // --dump: one line per related verdict or near miss (truth label, whether
  // the link is right, score, explanation), for studying the scoring.
  std::ofstream dump;
  if (!dump_path.empty()) dump.open(dump_path);

  // Rows are read and parsed a batch (one ingest transaction, 5,000 rows) at
  // a time; then the batch's check_and_record calls are timed together (a
  // thread-CPU clock read costs microseconds on this VM), then its commit.
  using clock = std::chrono::steady_clock;
  auto cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  double all_us = 0, all_cpu = 0, tail_us = 0, tail_cpu = 0, commit_us = 0, commit_cpu = 0;
  struct Item {
    reportbridge::core::SourceRow row;
    json::value doc;
    Verdict verdict;
  };
  std::vector<Item> batch;
  auto st = store.prepare("SELECT seq, id, version, received_at, payload FROM submissions ORDER BY seq");
  std::int64_t n = 0;
  bool more = true;
  while (more) {
    batch.clear();
    while (batch.size() < 5000 && (more = st.step())) {
      ++n;
      reportbridge::core::SourceRow row{st.int64(0), st.text(1), st.int64(2), st.text(3), st.text(4)};
      if (!truth.at(row.seq).valid) continue;  // ingest rejects these before deduplication
      json::value doc = json::parse(row.payload);
      batch.push_back({std::move(row), std::move(doc), {}});
    }
    if (batch.empty()) break;
    reportbridge::store::Transaction tx(state);
    const auto t0 = clock::now();
    const double c0 = cpu_us();
    for (auto& it : batch) it.verdict = dedup.check_and_record(it.doc, it.row);
    const double cpu = cpu_us() - c0;
    const auto t1 = clock::now();
    tx.commit();
    commit_cpu += cpu_us() - c0 - cpu;
    commit_us += std::chrono::duration<double, std::micro>(clock::now() - t1).count();
    const double us = std::chrono::duration<double, std::micro>(t1 - t0).count();
    all_us += us;
    all_cpu += cpu;
    checked += batch.size();
    if (batch.front().row.seq > tail_from) {
      tail_us += us;
      tail_cpu += cpu;
      tail_checked += batch.size();
    }
    for (const auto& it : batch) {
      const Truth& t = truth.at(it.row.seq);
      const Verdict& v = it.verdict;
      auto score = [&](const char* cls, bool predicted, bool actual, bool correct_target) {
        Counts& c = counts[cls];
        if (predicted && actual && correct_target) ++c.tp;
        else {
          if (predicted) ++c.fp;
          if (actual) ++c.fn;
        }
      };
      score("duplicate", v.kind == Verdict::Kind::duplicate, t.label == "exact_dup", v.of_id == t.of);
      score("update", v.kind == Verdict::Kind::update, t.label == "update", v.of_id == t.of);
      score("related", v.kind == Verdict::Kind::related, t.label == "near_dup", v.of_id == t.of);
      if (dump.is_open() && (v.kind == Verdict::Kind::related || t.label == "near_dup" ||
                             v.explanation.rfind("closest", 0) == 0))
        dump << t.label << '\t' << (v.kind == Verdict::Kind::related && t.label == "near_dup" && v.of_id == t.of)
             << '\t' << to_string(v.kind) << '\t' << v.score << '\t' << t.of << '\t' << v.of_id << '\t'
             << v.explanation << '\n';
      if (v.kind == Verdict::Kind::related && !(t.label == "near_dup" && v.of_id == t.of)) {
        if (wrong_examples.size() < 3) wrong_examples[it.row.id] = v.explanation;
      }
    }
  }

  std::printf("rows %lld, valid rows checked %zu, state page cache %ld MiB\n", static_cast<long long>(n), checked,
              cache_mib);
  for (const auto& [cls, c] : counts)
    std::printf("%-10s precision %.4f recall %.4f (tp %zu, fp %zu, fn %zu)\n", cls.c_str(), c.precision(),
                c.recall(), c.tp, c.fp, c.fn);
  auto per = [](double total, std::size_t k) { return total / static_cast<double>(std::max<std::size_t>(1, k)); };
  std::printf("check_and_record CPU time: %.2f us/submission over all %zu; %.2f us over the last %zu (history >= %lld rows)\n",
              per(all_cpu, checked), checked, per(tail_cpu, tail_checked), tail_checked,
              static_cast<long long>(tail_from));
  std::printf("check_and_record wall time: %.2f us/submission over all; %.2f us over the last %zu\n",
              per(all_us, checked), per(tail_us, tail_checked), tail_checked);
  std::printf("commit (per submission, every 5,000 rows): CPU %.2f us, wall %.2f us\n", per(commit_cpu, checked),
              per(commit_us, checked));
  for (const auto& [id, e] : wrong_examples) std::printf("false related: %s\n", e.c_str());
  return 0;
}
