#include "bridge/audit/audit_reader.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "bridge/audit/audit_files.hpp"

namespace reportbridge::audit {

namespace {

struct Lines {
  std::vector<std::string_view> lines;  // complete lines, without "\n"
  std::size_t torn = 0;                 // bytes after the last "\n"
};

Lines split_lines(const std::string& data) {
  Lines l;
  std::size_t start = 0;
  for (;;) {
    auto nl = data.find('\n', start);
    if (nl == std::string::npos) break;
    l.lines.emplace_back(data.data() + start, nl - start);
    start = nl + 1;
  }
  l.torn = data.size() - start;
  return l;
}

std::string at(const std::string& file, std::size_t line) { return file + ":" + std::to_string(line); }

std::string short_hash(const std::string& h) { return h.substr(0, 16) + "..."; }

using Snapshot = std::vector<std::pair<std::string, std::uintmax_t>>;

Snapshot snapshot(const std::filesystem::path& dir) {
  Snapshot s;
  for (const auto& f : list_audit_files(dir)) {
    std::error_code ec;
    s.emplace_back(f.path.filename().string(), std::filesystem::file_size(f.path, ec));
  }
  return s;
}

VerifyResult verify_once(const std::filesystem::path& dir, const VerifyOptions& options) {
  VerifyResult r;
  const auto files = list_audit_files(dir);
  r.files = files.size();
  std::string prev(kGenesis);
  std::int64_t last_seq = 0;
  bool any = false;
  bool head_seen = false;
  std::string prev_where;
  struct Torn {
    std::string file;
    std::size_t line;
    std::size_t bytes;
  };
  std::optional<Torn> torn;
  std::string last_file;

  auto fail = [&](std::string file, std::size_t line, std::string problem) {
    r.ok = false;
    r.file = std::move(file);
    r.line = line;
    r.problem = std::move(problem);
    r.last_seq = last_seq;
    return r;
  };

  for (const auto& f : files) {
    const std::string name = f.path.filename().string();
    last_file = name;
    const std::string data = read_whole_file(f.path);
    const Lines split = split_lines(data);
    for (std::size_t i = 0; i < split.lines.size(); ++i) {
      const std::string_view line = split.lines[i];
      const std::size_t n = i + 1;
      auto parsed = parse_entry(line);
      if (!parsed.entry)
        return fail(name, n,
                    (any ? "the entry after seq " + std::to_string(last_seq) : std::string("the first entry")) +
                        " is not valid: " + parsed.error);
      const Entry& e = *parsed.entry;
      if (!options.instance.empty() && instance_of(e) != options.instance)
        return fail(name, n,
                    "entry seq " + std::to_string(e.seq) + " was written by instance '" + instance_of(e) +
                        "', not by '" + options.instance + "' whose chain this is: it was moved between chains");
      if (torn) {
        if (e.kind != kChainResumed)
          return fail(torn->file, torn->line,
                      "incomplete last line (" + std::to_string(torn->bytes) +
                          " bytes without a newline), and the next entry (" + at(name, n) +
                          ") is not a chain_resumed entry: the file was cut short");
        r.notes.push_back(at(torn->file, torn->line) + ": incomplete line of " + std::to_string(torn->bytes) +
                          " bytes left by an interrupted write; acknowledged by the chain_resumed entry at " +
                          at(name, n) + " (seq " + std::to_string(e.seq) + ")");
        torn.reset();
      }
      if (!any) {
        if (e.prev != kGenesis) {
          if (!options.allow_archived)
            return fail(name, n,
                        "the chain does not start here: this entry (seq " + std::to_string(e.seq) +
                            ") continues from an earlier one (prev " + short_hash(e.prev) +
                            ") but no earlier file is present: files were removed, or archived "
                            "(then verify with --allow-archived)");
          r.notes.push_back("the trail present starts at seq " + std::to_string(e.seq) + " (" + at(name, n) +
                            ") after prev " + e.prev + "; earlier files are not here (archived)");
        } else if (e.seq != 1) {
          return fail(name, n, "the first entry has seq " + std::to_string(e.seq) + "; the chain starts at seq 1");
        }
        r.first_seq = e.seq;
      } else {
        if (e.seq <= last_seq)
          return fail(name, n,
                      "seq " + std::to_string(e.seq) + " follows seq " + std::to_string(last_seq) + " (" +
                          prev_where + "): entries are out of order, or a line was inserted or duplicated");
        if (e.seq != last_seq + 1)
          return fail(name, n,
                      "seq jumps from " + std::to_string(last_seq) + " (" + prev_where + ") to " +
                          std::to_string(e.seq) + ": entries " + std::to_string(last_seq + 1) + ".." +
                          std::to_string(e.seq - 1) + " are missing (" +
                          (n == 1 ? "a file was removed, or the file before was cut short"
                                  : "lines deleted or moved") +
                          ")");
        if (e.prev != prev)
          return fail(name, n,
                      "prev does not match the entry before it (seq " + std::to_string(last_seq) + " at " +
                          prev_where + "): that entry was altered and re-hashed, or this one was forged");
      }
      const std::string hash = line_hash(line);
      if (options.head_seq && e.seq == *options.head_seq) {
        head_seen = true;
        if (hash != options.head_hash)
          return fail(name, n,
                      "entry seq " + std::to_string(e.seq) + " has hash " + short_hash(hash) +
                          ", not the recorded head " + short_hash(options.head_hash) + ": it was replaced");
      }
      prev = hash;
      last_seq = e.seq;
      prev_where = at(name, n);
      any = true;
      ++r.entries;
    }
    if (split.torn > 0) torn = Torn{name, split.lines.size() + 1, split.torn};
  }
  if (torn)
    return fail(torn->file, torn->line,
                "the last line is incomplete (" + std::to_string(torn->bytes) +
                    " bytes without a newline): a write was cut short (a crash) or the file was truncated; "
                    "the daemon resumes the chain with a chain_resumed entry when it next starts");
  if (options.head_seq && !head_seen) {
    if (*options.head_seq > last_seq)
      return fail(last_file, 0,
                  "the trail ends at seq " + std::to_string(last_seq) + ", before the recorded head seq " +
                      std::to_string(*options.head_seq) + ": entries were removed from the end");
    return fail(files.empty() ? std::string() : files.front().path.filename().string(), 0,
                "the recorded head seq " + std::to_string(*options.head_seq) +
                    " is older than the first entry present (seq " + std::to_string(r.first_seq) + ")");
  }
  r.last_seq = last_seq;
  if (any) r.head_hash = prev;
  return r;
}

bool plain(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7F && c != '"' && c != '\\';
  });
}

}  // namespace

std::string VerifyResult::location() const {
  if (ok) return {};
  return (line ? at(file, line) : file) + ": " + problem;
}

VerifyResult verify_chain(const std::filesystem::path& dir, const VerifyOptions& options) {
  if (!std::filesystem::is_directory(dir)) throw std::runtime_error("no audit trail at " + dir.string());
  VerifyResult r;
  // A running daemon may append or rotate while we read: a failure on a folder
  // that changed meanwhile is read again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const Snapshot before = snapshot(dir);
    r = verify_once(dir, options);
    if (r.ok || snapshot(dir) == before) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

QueryResult query(const std::filesystem::path& dir, const Query& q) {
  if (!std::filesystem::is_directory(dir)) throw std::runtime_error("no audit trail at " + dir.string());
  QueryResult result;
  // A quick substring test skips most lines before parsing when the id needs no JSON escaping.
  const bool prefilter = !q.submission_id.empty() && plain(q.submission_id);
  for (const auto& f : list_audit_files(dir)) {
    const std::string name = f.path.filename().string();
    const std::string data = read_whole_file(f.path);
    const Lines split = split_lines(data);
    for (std::size_t i = 0; i < split.lines.size(); ++i) {
      const std::string_view line = split.lines[i];
      if (prefilter && line.find(q.submission_id) == std::string_view::npos) continue;
      auto parsed = parse_entry(line);
      if (!parsed.entry) {
        result.warnings.push_back(at(name, i + 1) + ": skipped: " + parsed.error);
        continue;
      }
      Entry& whole = *parsed.entry;
      if (!q.target.empty() && whole.target != q.target) continue;
      if (q.since_ms && whole.time_ms < *q.since_ms) continue;
      if (q.until_ms && whole.time_ms >= *q.until_ms) continue;
      // A batch entry speaks for each of its submissions: one hit per
      // submission, the stored line given with the first only.
      bool first = true;
      for (auto& e : whole.expand()) {
        if (!q.submission_id.empty() && e.submission_id != q.submission_id) continue;
        result.hits.push_back({std::move(e), first ? std::string(line) : std::string()});
        first = false;
      }
    }
    if (split.torn > 0)
      result.warnings.push_back(at(name, split.lines.size() + 1) + ": skipped: incomplete last line (" +
                                std::to_string(split.torn) + " bytes)");
  }
  std::stable_sort(result.hits.begin(), result.hits.end(), [](const auto& a, const auto& b) {
    if (a.entry.time_ms != b.entry.time_ms) return a.entry.time_ms < b.entry.time_ms;
    return a.entry.seq < b.entry.seq;
  });
  return result;
}

std::string instance_of(const Entry& e) {
  const auto slash = e.instance.rfind('/');
  return slash == std::string::npos ? std::string() : e.instance.substr(0, slash);
}

QueryResult query_chains(const std::filesystem::path& dir, const Query& q) {
  if (!std::filesystem::is_directory(dir)) throw std::runtime_error("no audit trail at " + dir.string());
  QueryResult all;
  for (const auto& chain : list_audit_chains(dir)) {
    QueryResult r = query(chain.dir, q);
    for (auto& w : r.warnings) all.warnings.push_back(chain.instance.empty() ? std::move(w) : chain.instance + "/" + w);
    for (auto& h : r.hits) {
      h.instance = instance_of(h.entry);
      if (h.instance.empty()) h.instance = chain.instance;
      all.hits.push_back(std::move(h));
    }
  }
  std::stable_sort(all.hits.begin(), all.hits.end(), [](const auto& a, const auto& b) {
    if (a.entry.time_ms != b.entry.time_ms) return a.entry.time_ms < b.entry.time_ms;
    if (a.instance != b.instance) return a.instance < b.instance;
    return a.entry.seq < b.entry.seq;
  });
  return all;
}

}  // namespace reportbridge::audit
