#include "bridge/audit/audit_cli.hpp"

#include <algorithm>
#include <optional>

#include "bridge/audit/audit_files.hpp"
#include "bridge/audit/audit_reader.hpp"
#include "bridge/core/untrusted_text.hpp"

namespace reportbridge::audit {

namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

constexpr const char* kUsageText = R"(Usage:
  reportbridge audit verify [--config FILE] [--dir DIR] [--instance NAME] [--allow-archived]
                            [--head SEQ:HASH]
      Recompute the hash chain over every audit file. Exit 0 when intact; 1 with the
      first break (file:line: what broke) when an entry was edited, deleted, inserted,
      reordered or a file was cut short or removed. A fleet's folder holds one chain
      per instance: each is verified and reported under its instance's name.
      --instance NAME   only that instance's chain
      --allow-archived  the oldest files were archived: start from the first entry present
      --head SEQ:HASH   a head printed by an earlier verify: it must still be there
                        (one chain: with several instances, give --instance)
  reportbridge audit show [--config FILE] [--dir DIR] (--submission ID | --target NAME)
                          [--target NAME] [--since TIME] [--until TIME] [--json]
      A submission's history in time order, across rotated files and every instance's
      chain (each step names the instance that did it). TIME is RFC 3339
      (2025-03-01T10:00:00Z) or a date (2025-03-01, midnight UTC); since <= time < until.
      --json prints the entries exactly as stored, one per line.
  --dir DIR   the audit folder (default: audit.directory from the config)
)";

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

void print_human(std::ostream& out, const Entry& e, bool with_submission, const std::string* instance) {
  out << e.time << "  ";
  if (instance) out << pad(instance->empty() ? "-" : core::escape_for_terminal(*instance), 12) << "  ";
  out << pad(e.kind, 14);
  if (with_submission) out << "  " << (e.submission_id.empty() ? "-" : e.submission_id);
  if (!e.submission_id.empty() || e.version) out << "  v" << e.version;
  // Values came from residents' reports and targets' answers: escaped, so a
  // line feed cannot forge an entry and ESC cannot drive the terminal.
  auto kv = [&](const char* key, const std::string& value) {
    if (!value.empty()) out << "  " << key << " " << core::escape_for_terminal(value);
  };
  kv("target", e.target);
  kv("ref", e.reference);
  kv("mapping", e.mapping);
  kv("rule", e.rule);
  kv("related", e.related_id);
  kv("reason", e.reason_code);
  if (!e.detail.empty()) out << "  -- " << core::escape_for_terminal(e.detail);
  out << "\n";
}

// One chain; `name` is empty for a lone instance, else the chain's name in the fleet.
int verify_one(const std::filesystem::path& dir, const VerifyOptions& options, const std::string& name,
               std::ostream& out) {
  const std::string who = name.empty() ? std::string() : "instance " + name + ": ";
  VerifyResult r = verify_chain(dir, options);
  for (const auto& n : r.notes) out << "note: " << who << n << "\n";
  if (!r.ok) {
    out << "audit verify: " << who << "BROKEN: " << r.location() << "\n";
    out << "audit verify: " << who << r.entries << " entries verified before the break"
        << (r.entries ? " (up to seq " + std::to_string(r.last_seq) + ")" : std::string()) << "\n";
    return kFailure;
  }
  if (r.entries == 0) {
    out << "audit verify: " << who << "OK: no entries yet in " << dir.string() << "\n";
    return kOk;
  }
  out << "audit verify: " << who << "OK: " << r.entries << (r.entries == 1 ? " entry in " : " entries in ") << r.files
      << " file(s), seq " << r.first_seq << ".." << r.last_seq << "\n";
  out << "head" << (name.empty() ? std::string() : " " + name) << ": " << r.last_seq << ":" << r.head_hash << "\n";
  return kOk;
}

// Every chain in `dir` (a fleet's: one per instance), or the one of `instance`.
int cmd_verify(const std::filesystem::path& dir, VerifyOptions options, const std::string& instance,
               std::ostream& out, std::ostream& err) {
  if (!std::filesystem::is_directory(dir)) throw std::runtime_error("no audit trail at " + dir.string());
  auto chains = list_audit_chains(dir);
  if (!instance.empty()) {
    std::erase_if(chains, [&](const AuditChain& c) { return c.instance != instance; });
    if (chains.empty()) {
      err << "audit verify: no chain of instance '" << instance << "' in " << dir.string() << "\n";
      return kFailure;
    }
  }
  // A lone instance's folder (or one with no entries yet): as it always was.
  if (chains.empty() || (chains.size() == 1 && chains.front().instance.empty()))
    return verify_one(chains.empty() ? dir : chains.front().dir, options, "", out);
  if (options.head_seq && chains.size() > 1) {
    err << "audit verify: --head names one chain's entry; give --instance NAME (" << chains.size()
        << " instances in " << dir.string() << ")\n";
    return kUsage;
  }
  int rc = kOk;
  std::size_t broken = 0;
  for (const auto& c : chains) {
    VerifyOptions o = options;
    o.instance = c.instance;
    if (verify_one(c.dir, o, c.instance.empty() ? std::string("(folder itself)") : c.instance, out) != kOk) {
      rc = kFailure;
      ++broken;
    }
  }
  out << "audit verify: " << chains.size() << " chain(s), " << (broken ? std::to_string(broken) + " BROKEN" : "all intact")
      << "\n";
  return rc;
}

int cmd_show(const std::filesystem::path& dir, const Query& q, bool json, std::ostream& out, std::ostream& err) {
  QueryResult r = query_chains(dir, q);
  // Several chains: each step names its instance.
  const bool fleet = std::any_of(r.hits.begin(), r.hits.end(), [](const auto& h) { return !h.instance.empty(); });
  for (const auto& w : r.warnings) err << "audit show: warning: " << w << " (run `reportbridge audit verify`)\n";
  if (r.hits.empty()) {
    err << "audit show: no entries"
        << (q.submission_id.empty() ? std::string() : " for submission " + q.submission_id)
        << (q.target.empty() ? std::string() : " with target " + q.target) << " in " << dir.string() << "\n";
    return kFailure;
  }
  if (json) {
    // Entries exactly as stored: a batch entry once, with all its submissions.
    for (const auto& h : r.hits)
      if (!h.line.empty()) out << h.line << "\n";
    return kOk;
  }
  if (!q.submission_id.empty())
    out << "submission " << q.submission_id << ": " << r.hits.size() << " entr" << (r.hits.size() == 1 ? "y" : "ies")
        << "\n";
  for (const auto& h : r.hits) print_human(out, h.entry, q.submission_id.empty(), fleet ? &h.instance : nullptr);
  return kOk;
}

}  // namespace

const char* audit_usage() { return kUsageText; }

int run_audit_command(const std::vector<std::string>& args, const std::filesystem::path& audit_dir,
                      std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsageText;
    return kUsage;
  }
  const std::string& verb = args[0];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    out << kUsageText;
    return kOk;
  }
  auto usage_error = [&](const std::string& message) {
    err << "reportbridge audit: " << message << "\n(see reportbridge audit --help)\n";
    return kUsage;
  };
  if (verb != "verify" && verb != "show") return usage_error("unknown audit command '" + verb + "'");

  std::filesystem::path dir = audit_dir;
  VerifyOptions vopt;
  std::string instance;
  Query q;
  bool json = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string value;
    auto take = [&]() {
      if (i + 1 >= args.size()) return false;
      value = args[++i];
      return true;
    };
    auto needs_value = [&] { return usage_error(a + " needs a value"); };
    auto time_value = [&](std::optional<std::int64_t>& slot) {
      auto t = parse_time(value);
      if (!t) return false;
      slot = t;
      return true;
    };
    if (a == "--help" || a == "-h") {
      out << kUsageText;
      return kOk;
    } else if (a == "--dir") {
      if (!take()) return needs_value();
      dir = value;
    } else if (verb == "verify" && a == "--instance") {
      if (!take()) return needs_value();
      instance = value;
    } else if (verb == "verify" && a == "--allow-archived") {
      vopt.allow_archived = true;
    } else if (verb == "verify" && a == "--head") {
      if (!take()) return needs_value();
      auto colon = value.find(':');
      std::int64_t seq = 0;
      bool ok = colon != std::string::npos && colon > 0 && value.size() - colon - 1 == 64;
      for (std::size_t k = 0; ok && k < colon; ++k) {
        if (value[k] < '0' || value[k] > '9' || k > 17) ok = false;
        else seq = seq * 10 + (value[k] - '0');
      }
      if (!ok) return usage_error("--head needs SEQ:HASH as printed by `audit verify`");
      vopt.head_seq = seq;
      vopt.head_hash = value.substr(colon + 1);
    } else if (verb == "show" && a == "--submission") {
      if (!take()) return needs_value();
      q.submission_id = value;
    } else if (verb == "show" && a == "--target") {
      if (!take()) return needs_value();
      q.target = value;
    } else if (verb == "show" && a == "--since") {
      if (!take()) return needs_value();
      if (!time_value(q.since_ms)) return usage_error("--since: '" + value + "' is not an RFC 3339 time or a date");
    } else if (verb == "show" && a == "--until") {
      if (!take()) return needs_value();
      if (!time_value(q.until_ms)) return usage_error("--until: '" + value + "' is not an RFC 3339 time or a date");
    } else if (verb == "show" && a == "--json") {
      json = true;
    } else {
      return usage_error("unexpected argument '" + a + "' for audit " + verb);
    }
  }
  if (dir.empty()) return usage_error("no audit folder: give --dir DIR or a config with audit.directory");
  if (verb == "show" && q.submission_id.empty() && q.target.empty())
    return usage_error("show needs --submission ID or --target NAME");
  if (q.since_ms && q.until_ms && *q.until_ms <= *q.since_ms) return usage_error("--until must be after --since");
  try {
    if (verb == "verify") return cmd_verify(dir, vopt, instance, out, err);
    return cmd_show(dir, q, json, out, err);
  } catch (const std::exception& e) {
    err << "reportbridge audit: " << e.what() << "\n";
    return kFailure;
  }
}

}  // namespace reportbridge::audit
