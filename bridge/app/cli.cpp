#include "bridge/app/cli.hpp"
#include "bridge/app/state.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "adapters/registry.hpp"
#include "bridge/app/daemon.hpp"
#include "bridge/audit/audit_cli.hpp"
#include "bridge/core/bounded_read.hpp"
#include "bridge/core/untrusted_text.hpp"
#include "bridge/app/runtime.hpp"
#include "bridge/config/yaml_spec.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/pipeline/bridge_fields.hpp"
#include "bridge/pipeline/decision.hpp"
#include "bridge/service/journal_log.hpp"
#include "bridge/service/service_config.hpp"
#include "bridge/store/sqlite.hpp"
#include "bridge/store/state_store.hpp"
#include "bridge/wsdl/scaffold.hpp"
#include "bridge/xml/rejection.hpp"
#include "bridge/xml/schema_paths.hpp"
#include "bridge/runner/signals.hpp"

namespace reportbridge::app {

namespace {

constexpr const char* kUsage = R"(reportbridge )" REPORTBRIDGE_VERSION R"( - the bridge from the public reporting app to legacy force systems

Usage:
  reportbridge run     --config FILE   Run as a daemon in the foreground until SIGTERM/SIGINT
                                       (finishes the current batch, then exits 0). SIGHUP
                                       re-reads the config and mapping files; a set with
                                       errors, or a change that needs a restart, is refused.
  reportbridge once    --config FILE   One pass over everything pending (read, deliver,
                                       write back), then exit.
  reportbridge check   --config FILE [--sample FILE.json]
                                       Validate config, mappings, lookups, schema and targets.
                                       Every problem is printed as file:line:col: message.
                                       Each xml_drop target also renders and validates a
                                       sample document per mapping (a built-in sample
                                       submission, or --sample).
  reportbridge preview --config FILE (--submission ID | --input FILE.json) [--reference REF]
                                       Print exactly what each target would receive. A SOAP
                                       target's update carries REF, else the reference the
                                       state database holds for the submission, else a
                                       made-up value of the reference's type.
  reportbridge status  --config FILE   Backlog, per-target counts, circuits, dead letters and
                                       quarantined rows.
  reportbridge replay  --config FILE (--all | --target NAME | --submission ID | --item N)
                                       Re-queue dead letters after a fix, each for its own
                                       target only. The daemon carries the request out (at
                                       once if running, else at its next start) and audits it.
                                       With --list, only show what would be replayed.
  reportbridge audit verify [--config FILE]
                                       Check the audit trail's hash chain across every file.
  reportbridge audit show --submission ID [--since T] [--until T] [--target NAME] [--json]
                                       One submission's whole history (docs/audit.md).
  reportbridge scaffold --wsdl FILE [--operation NAME] [--service S] [--port P] [SCAFFOLD-OPTIONS]
  reportbridge scaffold --xsd FILE --root ELEMENT [SCAFFOLD-OPTIONS]
                                       Print a starter mapping (every path of the request or
                                       document, required ones active, type, facets and
                                       cardinality as comments, from: guessed against the
                                       submission schema --schema) and a starter target.
                                       Without --operation: the WSDL's only operation.
                                       SCAFFOLD-OPTIONS: --schema FILE (submission schema),
                                       --name NAME (mapping and target name), --out DIR
                                       (write DIR/NAME.yaml and DIR/NAME.target.yaml
                                       instead of printing; never overwrites).
  reportbridge state migrate --config FILE
                                       PostgreSQL state: bring its schema up to this build's
                                       version (also done at start with state.migrate: auto).
  reportbridge state copy --from sqlite:PATH --to FILE [--replace]
                                       Move a stopped SQLite deployment to the PostgreSQL
                                       state of FILE, then verify every table (counts and
                                       checksums). Refuses a non-empty target unless --replace.
  reportbridge config-keys              Print every config key as Markdown (docs/configuration.md).
  reportbridge --help | --version

Options:
  --config FILE     the daemon config (default: /etc/reportbridge/reportbridge.yaml)
  --log-level LEVEL override logging.level (trace, debug, info, warn, error)
  --limit N         status: how many quarantined rows and dead letters to list (default 20)
  --state-wait D    once: how long to wait for a state database that is unavailable
                    (PostgreSQL down or failing over), trying again after 0.5 s doubling
                    to 15 s (default 5m; 0: fail at once). `run` waits as long as it takes.

Exit codes:
  0  success (check: no errors; preview: every target would accept it)
  1  runtime failure (database or I/O error)
  2  bad command line
  3  the configuration, a mapping, a lookup or the schema has errors
  4  preview: the submission would be rejected or quarantined
)";

struct Args {
  std::string verb;
  std::string config = "/etc/reportbridge/reportbridge.yaml";
  std::string submission;
  std::string input;
  std::string sample;
  std::string log_level;
  std::chrono::milliseconds state_wait = std::chrono::minutes(5);  // once --state-wait
  std::size_t limit = 20;
  std::string target;
  std::string reference;  // preview: the legacy reference an update carries
  std::int64_t item = 0;
  bool all = false;
  bool list = false;
};

// `instance`: a fleet member's name (state on PostgreSQL), put at the start of
// every message as `instance=NAME` (a plain word: the config checks it); empty
// for a lone instance.
void setup_logging(const std::string& level, const std::string& instance = {}) {
  const std::string tag = instance.empty() ? std::string() : "instance=" + instance + " ";
  std::shared_ptr<spdlog::logger> logger;
  if (service::is_journal_stream()) {
    // Under systemd: "<priority>message" lines; the journal adds the time.
    logger = std::make_shared<spdlog::logger>("reportbridge", service::make_journal_sink(2, tag));
  } else {
    logger = spdlog::stderr_logger_mt("reportbridge");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l " + tag + "%v", spdlog::pattern_time_type::utc);
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

std::unique_ptr<Runtime> load_or_report(const Args& args, int& exit_code) {
  core::Diagnostics diags;
  auto rt = load_runtime(args.config, diags);
  if (!diags.empty()) std::cerr << diags.to_string();
  if (!rt) {
    std::cerr << "reportbridge: configuration has errors; nothing was started\n";
    exit_code = kExitConfigInvalid;
    return nullptr;
  }
  setup_logging(args.log_level.empty() ? rt->config.log_level : args.log_level,
                rt->config.postgres ? rt->config.instance_name() : std::string());
  return rt;
}

// reportbridge scaffold: a starter mapping and target from a WSDL operation or
// an XSD root (bridge/wsdl/scaffold.hpp).
int cmd_scaffold(const std::vector<std::string>& a) {
  std::map<std::string, std::string> opt;
  for (std::size_t i = 0; i < a.size(); ++i) {
    static const std::set<std::string> known = {"--wsdl", "--operation", "--service", "--port", "--xsd",
                                                "--root", "--schema", "--name", "--out"};
    if (!known.count(a[i]) || i + 1 >= a.size()) {
      std::cerr << "reportbridge: scaffold: unexpected '" << a[i] << "' (see reportbridge --help)\n";
      return kExitUsage;
    }
    opt[a[i]] = a[i + 1];
    ++i;
  }
  const bool by_wsdl = opt.count("--wsdl") > 0;
  const bool by_xsd = opt.count("--xsd") > 0;
  if (by_wsdl == by_xsd || (by_xsd && !opt.count("--root")) ||
      (by_xsd && (opt.count("--operation") || opt.count("--service") || opt.count("--port"))) ||
      (by_wsdl && opt.count("--root"))) {
    std::cerr << "reportbridge: scaffold needs --wsdl FILE [--operation NAME], or --xsd FILE --root ELEMENT\n";
    return kExitUsage;
  }
  wsdl::ScaffoldOptions o;
  if (opt.count("--name")) {
    const std::string& n = opt["--name"];
    if (n.empty() || n.front() == '.' ||
        n.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos) {
      std::cerr << "reportbridge: scaffold: --name takes [A-Za-z0-9._-], no leading dot\n";
      return kExitUsage;
    }
    o.mapping_name = o.target_name = n;
  }
  if (opt.count("--schema")) {
    std::ifstream in(opt["--schema"]);
    if (!in) {
      std::cerr << "reportbridge: cannot read " << opt["--schema"] << "\n";
      return kExitFailure;
    }
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto doc = boost::json::parse(text.str(), ec);
    if (ec) {
      std::cerr << "reportbridge: " << opt["--schema"] << " is not JSON\n";
      return kExitConfigInvalid;
    }
    o.submission_paths = mapping::schema_paths(doc);
  }
  wsdl::Scaffold out;
  if (by_wsdl) {
    auto w = wsdl::Wsdl::load(opt["--wsdl"]);
    o.schema_path = opt["--wsdl"];
    std::string name = opt["--operation"];
    if (name.empty()) {
      // No --operation: the only operation of the (given or only) port.
      auto ops = w->operations(opt["--service"], opt["--port"]);
      std::set<std::string> names;
      for (const auto& op : ops) names.insert(op.name);
      if (names.size() != 1) {
        std::cerr << "reportbridge: " << opt["--wsdl"] << ": " << names.size()
                  << " operations; choose one with --operation";
        const char* sep = " (";
        for (const auto& n : names) {
          std::cerr << sep << n;
          sep = ", ";
        }
        std::cerr << (names.empty() ? "\n" : ")\n");
        return kExitConfigInvalid;
      }
      name = *names.begin();
    }
    out = wsdl::scaffold_operation(*w, w->operation(name, opt["--service"], opt["--port"]), o);
  } else {
    auto set = xml::SchemaSet::load(opt["--xsd"]);
    std::string why;
    // A prefixed --root (nibrs:Submission) uses the prefixes the schema documents declare.
    xml::Namespaces schema_ns;
    for (const auto& [uri, prefix] : set->schema_prefixes()) schema_ns.emplace_back(prefix, uri);
    const auto* root = xml::find_global_element(*set, opt["--root"], schema_ns, "", &why);
    if (!root) {
      std::cerr << "reportbridge: --root " << opt["--root"] << ": " << why << "\n";
      return kExitConfigInvalid;
    }
    o.schema_path = opt["--xsd"];
    out = wsdl::scaffold_document(set, root->name, o);
  }
  if (!opt.count("--out")) {
    std::cout << "# ---- mapping (save as mappings/<name>.yaml) ----\n" << out.mapping_yaml
              << "\n# ---- target (add to the config's targets:) ----\n" << out.target_yaml;
    return kExitOk;
  }
  // --out DIR: two files, never over an analyst's edits.
  const std::filesystem::path dir = opt["--out"];
  std::string name = o.mapping_name;
  if (name.empty()) {
    const auto at = out.mapping_yaml.find("\nmapping: ");
    name = at == std::string::npos ? "scaffold"
                                   : out.mapping_yaml.substr(at + 10, out.mapping_yaml.find('\n', at + 10) - at - 10);
  }
  const std::filesystem::path mapping_file = dir / (name + ".yaml");
  const std::filesystem::path target_file = dir / (name + ".target.yaml");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const auto& f : {mapping_file, target_file}) {
    if (std::filesystem::exists(f)) {
      std::cerr << "reportbridge: " << f.string() << " exists; not overwritten (remove it or choose another --out/--name)\n";
      return kExitFailure;
    }
  }
  for (const auto& [f, text] : {std::pair{mapping_file, out.mapping_yaml}, std::pair{target_file, out.target_yaml}}) {
    std::ofstream file(f, std::ios::binary);
    file << text;
    file.close();
    if (!file) {
      std::cerr << "reportbridge: cannot write " << f.string() << "\n";
      return kExitFailure;
    }
  }
  std::cout << "wrote " << mapping_file.string() << " (" << out.fields.size() << " paths listed, "
            << std::count_if(out.fields.begin(), out.fields.end(), [](const auto& f) { return f.required; })
            << " required)\nwrote " << target_file.string() << "\n";
  return kExitOk;
}

int cmd_run(const Args& args, bool once) {
  // Before anything slow (config, mappings, WSDLs, the state): a SIGHUP or
  // SIGTERM from now on is kept for the daemon's loop, not the default action
  // that would end the process (runner/signals.hpp).
  runner::Signals::hold();
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  return run_daemon(*rt, once, args.log_level, args.state_wait);
}

// A complete submission (every field of schemas/submission.schema.json, a
// reporter who may be contacted, consent to share) for check's sample documents.
constexpr const char* kSampleSubmission = R"({
  "id": "00000000-0000-4000-8000-000000000001", "version": 1,
  "submitted_at": "2026-11-27T18:42:10+00:00", "kind": "concern", "category": "noise",
  "summary": "Loud music every night", "description": "Loud music from the flat above until 3am.",
  "occurred": {"start": "2026-11-27T23:00:00+00:00", "end": "2026-11-28T03:00:00+00:00", "ongoing": false},
  "location": {"lat": 54.5742, "lon": -1.235, "accuracy_m": 15, "address": "1 High Street, Middlesbrough",
               "postcode": "TS1 3QY"},
  "reporter": {"anonymous": false, "name": "Sample Resident", "email": "sample@example.org",
               "phone": "07700 900123", "contact_ok": true, "preferred_language": "en",
               "age_band": "35-44", "ethnicity": "prefer_not_to_say", "gender": "prefer_not_to_say"},
  "attachments": [{"id": "a1", "filename": "photo.jpg", "media_type": "image/jpeg", "size_bytes": 1024,
                   "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                   "path": "2026/11/27/a1.jpg"}],
  "device": {"platform": "android", "app_version": "1.4.2"},
  "consent": {"share_with_partners": true}
})";

// Renders the sample through each mapping for each xml_drop target it feeds
// and validates the document: a mapping that cannot produce a valid document
// is an error at the fields behind the failing elements.
void check_samples(const Runtime& rt, const boost::json::value& sample, const std::string& sample_name,
                   core::Diagnostics& diags) {
  std::set<std::string> xml_targets;
  for (const auto& t : rt.config.targets)
    if (t.type == "xml_drop") xml_targets.insert(t.name);
  std::string id = "sample";
  std::int64_t version = 1;
  if (const auto* o = sample.if_object()) {
    if (const auto* v = o->if_contains("id"); v && v->is_string()) id = std::string(v->get_string());
    if (const auto* v = o->if_contains("version"); v && v->is_int64()) version = v->get_int64();
  }
  for (const auto& m : rt.mappings->mappings()) {
    for (const auto& target : m.targets) {
      auto* sink = xml_targets.count(target) ? rt.sink(target) : nullptr;
      if (!sink) continue;
      const int line = m.fields.empty() ? 1 : m.fields.front().line;
      auto r = mapping::apply(m, target, sample, id, version, 1);
      if (r.error) {
        diags.warning(m.file, line, 1,
                      "the " + sample_name + " cannot be mapped for target '" + target + "' (" +
                          mapping::to_string(*r.error) + "): no sample document checked",
                      "check.sample_unmapped");
        continue;
      }
      try {
        sink->encode_preview(*r.record);
      } catch (const xml::DocumentRejected& e) {
        bool placed = false;
        for (const auto& name : e.fields())
          for (const auto& f : m.fields)
            if (f.name == name) {
              diags.error(m.file, f.line, f.column,
                          "target '" + target + "' rejects the document the " + sample_name + " gives (field '" +
                              name + "'): " + e.what(),
                          "check.sample_invalid");
              placed = true;
            }
        if (!placed)
          diags.error(m.file, line, 1,
                      "target '" + target + "' rejects the document mapping '" + m.name + "' gives the " +
                          sample_name + ": " + e.what() + " (reportbridge preview shows the document)",
                      "check.sample_invalid");
      } catch (const std::exception& e) {
        diags.error(m.file, line, 1,
                    "target '" + target + "' rejects the record mapping '" + m.name + "' gives the " + sample_name +
                        ": " + e.what(),
                    "check.sample_invalid");
      }
    }
  }
}

int cmd_check(const Args& args) {
  core::Diagnostics diags;
  auto rt = load_runtime(args.config, diags);
  std::size_t errors = 0;
  auto count_errors = [&] {
    errors = 0;
    for (const auto& d : diags.items())
      if (d.severity == core::Severity::error) ++errors;
  };
  if (!rt) {
    std::cout << diags.to_string();
    count_errors();
    std::cout << args.config << ": " << errors << " error(s)\n";
    return kExitConfigInvalid;
  }
  std::string sample_text = kSampleSubmission;
  std::string sample_name = "built-in sample submission";
  if (!args.sample.empty()) {
    std::ifstream in(args.sample, std::ios::binary);
    if (!in) {
      std::cerr << "reportbridge: cannot read " << args.sample << "\n";
      return kExitFailure;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    sample_text = ss.str();
    sample_name = "sample " + std::filesystem::path(args.sample).filename().string();
  }
  boost::system::error_code ec;
  auto sample = boost::json::parse(sample_text, ec);
  if (ec || !sample.is_object()) {
    diags.error(args.sample, 1, 1, "the sample is not a JSON object", "check.bad_sample");
  } else {
    check_samples(*rt, sample, sample_name, diags);
  }
  std::cout << diags.to_string();
  count_errors();
  if (errors) {
    std::cout << args.config << ": " << errors << " error(s)\n";
    return kExitConfigInvalid;
  }
  std::cout << args.config << ": OK (" << rt->mappings->mappings().size() << " mappings, "
            << rt->sinks.size() << " targets)\n";
  return kExitOk;
}

int cmd_preview(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  core::SourceRow row;
  if (!args.input.empty()) {
    // Read no further than the largest payload the schema accepts (plus a
    // little): `--input /dev/zero` is rejected for its size like in ingest.
    core::BoundedRead in = core::read_bounded(args.input, schema::kMaxPayloadBytes);
    if (!in.content) {
      std::cerr << "reportbridge: cannot read " << args.input << ": " << in.error << "\n";
      return kExitFailure;
    }
    row.payload = std::move(*in.content);
    boost::system::error_code ec;
    auto v = boost::json::parse(row.payload, ec);
    if (!ec && v.is_object()) {
      if (auto* id = v.get_object().if_contains("id"); id && id->is_string())
        row.id = std::string(id->get_string());
      if (auto* ver = v.get_object().if_contains("version"); ver && ver->is_int64())
        row.version = ver->get_int64();
    }
  } else {
    std::optional<core::SourceRow> found;
    try {
      found = rt->source->latest(args.submission);
    } catch (const std::exception& e) {
      std::cerr << "reportbridge: cannot read the submission store: " << e.what() << "\n";
      return kExitFailure;
    }
    if (!found) {
      std::cerr << "reportbridge: submission " << args.submission << " not found in " << rt->source->location()
                << "\n";
      return kExitFailure;
    }
    row = *found;
  }
  std::cout << "submission " << row.id << " version " << row.version << "\n";
  // The decision ingest would make (pipeline/decision.hpp: the same code),
  // with each field's lineage.
  pipeline::DecisionRules rules = decision_rules(*rt);
  rules.trace = true;
  const std::int64_t now = store::now_ms();
  pipeline::Decision decision = pipeline::decide(rules, row, now);
  if (decision.outcome == "rejected") {
    std::cout << "REJECTED by the submission schema (would be quarantined):\n";
    for (const auto& e : decision.errors) std::cout << "  " << schema::to_string(e) << "\n";
    std::cout << "resident would be told: " << decision.writeback->message << "\n";
    return kExitPreviewRejected;
  }
  std::cout << mapping::format_plan(decision.plan);
  if (decision.outcome == "unrouted") {
    std::cout << "UNROUTED: no mapping applies (would be quarantined as unrouted)\n";
    return kExitPreviewRejected;
  }
  // Judged against the state database's history, without recording anything;
  // the verdict fills the bridge's fields (RelatedReference, ReporterKey).
  std::unique_ptr<store::StateStore> preview_state;
  std::optional<dedup::Verdict> verdict;
  if (rt->dedup_settings && decision.doc && state_exists(rt->config)) {
    preview_state = open_state(rt->config, 2048);
    dedup::Deduplicator dd(preview_state->open_dedup_tables(), *rt->dedup_settings);
    verdict = dd.check(*decision.doc, row);
    const auto& v = *verdict;
    std::cout << "dedup: " << dedup::to_string(v.kind) << " (rule " << v.rule << ")";
    if (!v.of_id.empty()) std::cout << " of " << v.of_id;
    if (!v.explanation.empty()) std::cout << ": " << v.explanation;
    std::cout << "\n";
  }
  pipeline::judge(rules, decision, verdict,
                  [&](const std::string& id, const std::string& target) {
                    return preview_state ? preview_state->reference_for(id, target) : std::string();
                  },
                  row, now);
  if (decision.outcome == "duplicate") {
    std::cout << "DUPLICATE: would be recorded as a duplicate and not sent again\n";
    return kExitOk;
  }
  int result = kExitOk;
  std::size_t next_route = 0;  // decision.routes follow the plan's order when queued
  for (std::size_t i = 0; i < decision.plan.routes.size(); ++i) {
    const auto& route = decision.plan.routes[i];
    const auto& traced = decision.traces[i];
    const std::string& target = route.target;
    std::cout << "\n== mapping " << route.mapping->name << " -> target " << target << "\n";
    std::cout << mapping::format_lineage(traced);
    if (traced.result.error) {
      std::cout << "QUARANTINED: " << mapping::to_string(*traced.result.error) << "\n";
      result = kExitPreviewRejected;
      continue;
    }
    const pipeline::RoutedRecord* routed =
        decision.outcome == "queued" && next_route < decision.routes.size() ? &decision.routes[next_route++] : nullptr;
    const core::TargetRecord& record = routed && routed->record ? *routed->record : *traced.result.record;
    if (routed) {
      // As ingest fills them (the lineage above shows the mapping's own value).
      const auto policy = rules.related.count(target) ? rules.related.at(target) : dedup::RelatedPolicy::link;
      for (const auto& f : record.fields) {
        if (f.name != pipeline::kRelatedReferenceField && f.name != pipeline::kReporterKeyField) continue;
        std::cout << "    " << f.name << " = " << (f.value ? "\"" + *f.value + "\"" : std::string("(no value)"))
                  << "   <- bridge: "
                  << (f.name == pipeline::kRelatedReferenceField
                          ? "related report, policy " + std::string(dedup::to_string(policy))
                          : std::string("reporter key, reporter_key ") +
                                (rules.reporter_key_targets.count(target) ? "on" : "off"))
                  << "\n";
      }
      if (!routed->held.empty())
        std::cout << "HELD for review at " << target << " (related: hold): a dead letter until replayed\n";
    }
    if (auto* sink = rt->sink(target)) {
      std::string rendered;
      try {
        // An update by reference carries the given reference, else the stored one.
        std::string prior = args.reference;
        if (prior.empty() && sink->updates_by_reference() && std::filesystem::exists(rt->config.state_path)) {
          if (!preview_state) preview_state = store::open_state_store(rt->config.state_path.string(), 2048);
          prior = preview_state->reference_for(record.submission_id, target);
        }
        rendered = sink->encode_preview_with_reference(record, prior);
      } catch (const xml::DocumentRejected& e) {
        std::cout << "REJECTED by target " << target << ": " << e.what() << "\n";
        if (!e.fields().empty()) {
          std::cout << "  mapping fields behind it:";
          for (const auto& f : e.fields()) std::cout << " " << f;
          std::cout << "\n";
        }
        std::cout << "-- " << target << " would reject (>> marks the lines the validator reports):\n" << e.listing();
        result = kExitPreviewRejected;
        continue;
      } catch (const std::exception& e) {
        std::cout << "REJECTED by target " << target << ": " << core::escape_for_terminal(e.what()) << "\n";
        result = kExitPreviewRejected;
        continue;
      }
      std::cout << "-- " << target << " receives:\n" << rendered;
      if (!rendered.ends_with("\n")) std::cout << "\n";
    }
  }
  return result;
}

int cmd_status(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  if (!state_exists(rt->config)) {
    std::cout << "no state database yet at " << rt->config.state_path.string()
              << ": nothing has been processed (run `reportbridge once` or `run`)\n";
    return kExitOk;
  }
  auto state_store = open_state(rt->config, 2048);
  store::StateStore& state = *state_store;
  auto cursor = state.load_cursor(rt->config.source.name);
  std::int64_t backlog = -1;
  try {
    backlog = rt->source->backlog(cursor);
  } catch (const std::exception& e) {
    std::cout << "source: unreachable: " << core::escape_for_terminal(e.what()) << "\n";
  }
  std::cout << "source " << rt->config.source.name << ": high-water seq " << cursor.high_water
            << ", " << cursor.gaps.size() << " open gap(s) awaiting late rows, backlog "
            << (backlog < 0 ? std::string("unknown") : std::to_string(backlog)) << " row(s)\n";
  std::cout << "processed: " << state.ledger_count() << " submission version(s)\n";
  std::cout << "targets:\n";
  auto counts = state.target_counts();
  for (const auto& t : rt->config.targets) {
    store::TargetCounts c{t.name};
    for (const auto& x : counts)
      if (x.target == t.name) c = x;
    std::printf("  %-24s pending %-8lld in_flight %-6lld delivered %-8lld dead %lld\n",
                t.name.c_str(), static_cast<long long>(c.pending),
                static_cast<long long>(c.in_flight), static_cast<long long>(c.delivered),
                static_cast<long long>(c.dead));
  }
  std::fflush(stdout);
  for (const auto& h : state.target_health()) {
    if (h.circuit == "closed") continue;
    std::cout << "  circuit " << h.circuit << ": " << h.target << " after " << h.consecutive_failures
              << " failed batch(es), next probe " << store::rfc3339_utc(h.retry_at_ms) << " (last error: "
              << core::escape_for_terminal(h.last_error) << ")\n";
  }
  auto dead = state.dead_letters({}, args.limit);
  if (!dead.empty()) {
    std::cout << "dead letters (oldest first; `reportbridge replay` re-queues them):\n";
    for (const auto& d : dead)
      std::cout << "  item " << d.outbox_id << "  " << d.target << "  " << d.submission_id << " v"
                << d.version << "  " << core::escape_for_terminal(d.last_error)
                << (d.replayable ? "" : "  (record erased: not replayable)") << "\n";
  }
  std::cout << "write-back: " << state.pending_writeback_count() << " status(es) pending\n";
  std::cout << "quarantined: " << state.quarantine_count() << " (newest first)\n";
  for (const auto& q : state.quarantined(args.limit)) {
    std::cout << "  seq " << q.seq << "  " << q.submission_id << " v" << q.version << "  "
              << q.reason_code;
    if (!q.mapping.empty()) std::cout << "  mapping " << q.mapping;
    if (!q.field.empty()) std::cout << "  field " << q.field;
    std::cout << "  " << core::escape_for_terminal(q.detail) << "\n";
  }
  return kExitOk;
}

int cmd_replay(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  const int chosen = (args.all ? 1 : 0) + (args.target.empty() ? 0 : 1) + (args.submission.empty() ? 0 : 1) +
                     (args.item ? 1 : 0);
  if (chosen != 1 && !(chosen == 2 && !args.target.empty() && !args.submission.empty())) {
    std::cerr << "reportbridge: replay needs --all, --target NAME, --submission ID (optionally with"
                 " --target) or --item N\n";
    return kExitUsage;
  }
  if (!state_exists(rt->config)) {
    std::cout << "no state database yet: nothing to replay\n";
    return kExitOk;
  }
  auto state_store = open_state(rt->config, 2048);
  store::StateStore& state = *state_store;
  store::ReplaySelector which{args.target, args.submission, args.item};
  auto dead = state.dead_letters(which, 1'000'000);
  std::size_t replayable = 0;
  for (const auto& d : dead) {
    if (d.replayable) ++replayable;
    if (args.list)
      std::cout << "item " << d.outbox_id << "  " << d.target << "  " << d.submission_id << " v" << d.version
                << "  " << core::escape_for_terminal(d.last_error)
                << (d.replayable ? "" : "  (record erased: not replayable)") << "\n";
  }
  if (args.list) {
    std::cout << replayable << " dead letter(s) would be replayed\n";
    return kExitOk;
  }
  if (replayable == 0) {
    std::cout << "no replayable dead letters match\n";
    return kExitOk;
  }
  const char* user = std::getenv("USER");
  state.request_replay(which, std::string("operator ") + (user ? user : "unknown"), store::now_ms());
  std::cout << replayable << " dead letter(s) queued for replay; the daemon re-queues them within a second"
               " (or at its next start) and audits it\n";
  return kExitOk;
}

const char* kind_text(config::ValueKind k) {
  switch (k) {
    case config::ValueKind::string: return "string";
    case config::ValueKind::integer: return "integer";
    case config::ValueKind::number: return "number";
    case config::ValueKind::boolean: return "boolean";
    case config::ValueKind::duration: return "duration";
    case config::ValueKind::size: return "size";
    case config::ValueKind::list: return "list";
    case config::ValueKind::map: return "map";
    case config::ValueKind::scalar_or_list: return "value or list";
    case config::ValueKind::any: return "any";
    case config::ValueKind::scalar_list: return "list of values";
    case config::ValueKind::item_or_list: return "value, map or list";
  }
  return "";
}

void print_spec(const config::MapSpec& spec) {
  std::cout << "### `" << spec.what << "`\n\n| key | type | required | meaning |\n|---|---|---|---|\n";
  for (const auto& k : spec.keys) {
    std::string desc = k.description;
    if (!k.one_of.empty()) {
      desc += " One of:";
      for (std::size_t i = 0; i < k.one_of.size(); ++i) desc += (i ? ", `" : " `") + k.one_of[i] + "`";
      desc += ".";
    }
    std::cout << "| `" << k.key << "` | " << kind_text(k.kind) << " | " << (k.required ? "yes" : "no")
              << " | " << desc << " |\n";
  }
  std::cout << "\n";
}

// The config reference, generated from the same specs `check` validates with.
int cmd_config_keys() {
  for (const auto* spec : config::daemon_specs()) print_spec(*spec);
  print_spec(audit::audit_spec());
  print_spec(service::health_spec());
  print_spec(service::service_spec());
  print_spec(dedup::dedup_spec());
  print_spec(dedup::weights_spec());
  const auto& components = adapters::builtin_components();
  for (const auto& source : components.sources()) print_spec(source.spec);
  std::vector<const config::SinkType*> sinks;
  for (const auto& sink : components.sinks()) sinks.push_back(&sink);
  std::sort(sinks.begin(), sinks.end(), [](auto* a, auto* b) { return a->type < b->type; });
  for (const auto* sink : sinks) print_spec(sink->spec);
  return kExitOk;
}

}  // namespace

// `reportbridge audit verify|show ... [--config FILE | --dir DIR]`
int cmd_audit(std::vector<std::string> words) {
  std::string config_path = "/etc/reportbridge/reportbridge.yaml";
  bool has_dir = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "--dir") has_dir = true;
    if (words[i] == "--config") {
      if (i + 1 >= words.size()) {
        std::cerr << "reportbridge: --config needs a value\n";
        return kExitUsage;
      }
      config_path = words[i + 1];
      words.erase(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + 2);
      --i;
    }
  }
  std::filesystem::path dir;
  if (!has_dir) {
    core::Diagnostics diags;
    auto cfg = config::load_daemon_config(config_path, adapters::builtin_components().specs(), diags);
    if (!cfg) {
      std::cerr << diags.to_string() << "reportbridge: configuration has errors\n";
      return kExitConfigInvalid;
    }
    dir = audit::load_audit_settings(cfg->document["audit"], cfg->file, cfg->base_dir,
                                     cfg->local_dir() / "audit", diags)
              .directory;
  }
  return audit::run_audit_command(words, dir, std::cout, std::cerr);
}

int main(int argc, char** argv) {
  Args args;
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  if (a.front() == "scaffold") {
    try {
      return cmd_scaffold(std::vector<std::string>(a.begin() + 1, a.end()));
    } catch (const std::exception& e) {
      std::cerr << "reportbridge: " << e.what() << "\n";
      return kExitConfigInvalid;
    }
  }
  if (a.front() == "state") {
    try {
      return cmd_state(std::vector<std::string>(a.begin() + 1, a.end()));
    } catch (const std::exception& e) {
      std::cerr << "reportbridge: state: " << e.what() << "\n";
      return kExitFailure;
    }
  }
  if (a.front() == "audit") {
    // What the audit trail holds came from residents and targets: shown, never obeyed.
    core::TerminalOutputGuard safe_out(std::cout), safe_err(std::cerr);
    try {
      return cmd_audit(std::vector<std::string>(a.begin() + 1, a.end()));
    } catch (const std::exception& e) {
      std::cerr << "reportbridge: " << e.what() << "\n";
      return kExitFailure;
    }
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= a.size()) {
        std::cerr << "reportbridge: " << s << " needs a value\n";
        return false;
      }
      out = a[++i];
      return true;
    };
    if (s == "--help" || s == "-h" || s == "help") {
      std::cout << kUsage;
      return kExitOk;
    } else if (s == "--version") {
      std::cout << "reportbridge " REPORTBRIDGE_VERSION "\n";
      return kExitOk;
    } else if (s == "--config") {
      if (!value(args.config)) return kExitUsage;
    } else if (s == "--submission") {
      if (!value(args.submission)) return kExitUsage;
    } else if (s == "--input") {
      if (!value(args.input)) return kExitUsage;
    } else if (s == "--sample") {
      if (!value(args.sample)) return kExitUsage;
    } else if (s == "--log-level") {
      if (!value(args.log_level)) return kExitUsage;
      static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error"};
      if (std::find(levels.begin(), levels.end(), args.log_level) == levels.end()) {
        std::cerr << "reportbridge: --log-level must be one of trace, debug, info, warn, error\n";
        return kExitUsage;
      }
    } else if (s == "--state-wait") {
      std::string d;
      if (!value(d)) return kExitUsage;
      const auto parsed = d == "0" ? std::optional(std::chrono::milliseconds(0)) : config::parse_duration(d);
      if (!parsed) {
        std::cerr << "reportbridge: --state-wait needs a duration (e.g. 30s, 5m, 0)\n";
        return kExitUsage;
      }
      args.state_wait = *parsed;
    } else if (s == "--target") {
      if (!value(args.target)) return kExitUsage;
    } else if (s == "--reference") {
      if (!value(args.reference)) return kExitUsage;
    } else if (s == "--all") {
      args.all = true;
    } else if (s == "--list") {
      args.list = true;
    } else if (s == "--item") {
      std::string n;
      if (!value(n)) return kExitUsage;
      try {
        args.item = std::stoll(n);
      } catch (...) {
        std::cerr << "reportbridge: --item needs a number\n";
        return kExitUsage;
      }
    } else if (s == "--limit") {
      std::string n;
      if (!value(n)) return kExitUsage;
      try {
        args.limit = std::stoul(n);
      } catch (...) {
        std::cerr << "reportbridge: --limit needs a number\n";
        return kExitUsage;
      }
    } else if (args.verb.empty() && !s.starts_with("-")) {
      args.verb = s;
    } else {
      std::cerr << "reportbridge: unexpected argument '" << s << "'\n(see reportbridge --help)\n";
      return kExitUsage;
    }
  }
  // Reports that print what residents, targets and files supplied: every
  // control character is shown as an escape (core::escape_for_terminal).
  std::optional<core::TerminalOutputGuard> safe_out, safe_err;
  if (args.verb == "status" || args.verb == "preview" || args.verb == "check" || args.verb == "replay") {
    safe_out.emplace(std::cout);
    safe_err.emplace(std::cerr);
  }
  try {
    if (args.verb == "run") return cmd_run(args, false);
    if (args.verb == "once") return cmd_run(args, true);
    if (args.verb == "check") return cmd_check(args);
    if (args.verb == "config-keys") return cmd_config_keys();
    if (args.verb == "status") return cmd_status(args);
    if (args.verb == "replay") return cmd_replay(args);
    if (args.verb == "preview") {
      if (args.submission.empty() == args.input.empty()) {
        std::cerr << "reportbridge: preview needs exactly one of --submission ID or --input FILE\n";
        return kExitUsage;
      }
      return cmd_preview(args);
    }
  } catch (const std::exception& e) {
    std::cerr << "reportbridge: " << e.what() << "\n";
    return kExitFailure;
  }
  std::cerr << "reportbridge: unknown command '" << args.verb << "'\n(see reportbridge --help)\n";
  return kExitUsage;
}

}  // namespace reportbridge::app
