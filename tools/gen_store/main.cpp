// reportbridge-gen-store: fills an app submission store with realistic,
// deterministic rows (see generator.hpp). Exit 0 on success, 1 on I/O
// errors, 2 on bad flags.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tools/gen_store/generator.hpp"

namespace {

constexpr const char* kUsage = R"(usage: reportbridge-gen-store --db PATH [options]

Generate realistic, deterministic submissions into an app submission store
(SQLite, per shared/contracts/app-store.md), with attachment files and an
optional ground-truth JSON Lines file. Same options give byte-identical output.

  --db PATH              SQLite store (created with the contract's schema if missing)
  --media-root DIR       attachment folder (default: <db dir>/media)
  --count N              rows to add (default 1000)
  --seed N               random seed (default 1)
  --now TIME             RFC 3339; rows fall in the --days before it (default 2026-11-27T12:00:00Z)
  --days D               time window in days (default 30)
  --malformed-rate R     invalid JSON, truncated, missing field, wrong type, ... (default 0.01)
  --exact-dup-rate R     double taps: same content, new id (default 0.02)
  --update-rate R        new version of an earlier id (default 0.05)
  --attachment-rate R    share of first reports with 1-3 attachments (default 0.2)
  --formula-rate R       text starting with = + - @ (default 0.01)
  --append               add to an existing store, continuing seq
  --batch N              rows per transaction (default 5000)
  --truth PATH           write ground truth JSON Lines (appended to with --append)
  --help                 show this text
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T number(std::string_view flag, std::string_view text) {
  T value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty())
    throw UsageError("invalid value for " + std::string(flag) + ": '" + std::string(text) + "'");
  return value;
}

reportbridge::gen::GenOptions parse(int argc, char** argv, bool& help) {
  reportbridge::gen::GenOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      help = true;
      return o;
    }
    if (arg == "--append") {
      if (has_value) throw UsageError("--append takes no value");
      o.append = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) throw UsageError("missing value for " + std::string(arg));
      value = argv[++i];
    }
    if (arg == "--db") o.db_path = value;
    else if (arg == "--media-root") o.media_root = value;
    else if (arg == "--count") o.count = number<std::int64_t>(arg, value);
    else if (arg == "--seed") o.seed = number<std::uint64_t>(arg, value);
    else if (arg == "--now") o.now = value;
    else if (arg == "--days") o.days = number<double>(arg, value);
    else if (arg == "--malformed-rate") o.malformed_rate = number<double>(arg, value);
    else if (arg == "--exact-dup-rate") o.exact_dup_rate = number<double>(arg, value);
    else if (arg == "--update-rate") o.update_rate = number<double>(arg, value);
    else if (arg == "--attachment-rate") o.attachment_rate = number<double>(arg, value);
    else if (arg == "--formula-rate") o.formula_rate = number<double>(arg, value);
    else if (arg == "--batch") o.batch = number<std::int64_t>(arg, value);
    else if (arg == "--truth") o.truth_path = value;
    else throw UsageError("unknown flag " + std::string(arg));
  }
  if (o.db_path.empty()) throw UsageError("--db is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  reportbridge::gen::GenOptions options;
  try {
    options = parse(argc, argv, help);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "reportbridge-gen-store: %s\n%s", e.what(), kUsage);
    return 2;
  }
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const auto stats = reportbridge::gen::generate_store(options);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    std::printf("reportbridge-gen-store: %s in %.1fs\n", reportbridge::gen::summary_line(options, stats).c_str(),
                took.count());
    return 0;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "reportbridge-gen-store: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reportbridge-gen-store: %s\n", e.what());
    return 1;
  }
}
