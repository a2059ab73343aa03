#include "bridge/app/state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <iostream>

#include "bridge/app/cli.hpp"
#include "bridge/app/state_copy.hpp"
#include "bridge/config/components.hpp"
#include "adapters/registry.hpp"
#include "bridge/store/state_unavailable.hpp"

namespace reportbridge::app {

pg_store::PgSettings pg_settings(const config::PostgresStateSettings& s) {
  pg_store::PgSettings p;
  p.conninfo = s.conninfo;
  p.sslmode = s.sslmode;
  p.sslrootcert = s.sslrootcert;
  p.password_file = s.password_file;
  p.password_credential = s.password_credential;
  p.migrate_on_start = s.migrate_on_start;
  p.instance = s.instance;
  p.lease = s.lease;
  return p;
}

std::unique_ptr<store::StateStore> open_state(const config::DaemonConfig& c, int cache_kib) {
  if (c.postgres) return std::make_unique<pg_store::PgStateStore>(pg_settings(*c.postgres));
  return store::open_state_store(c.state_path.string(), cache_kib);
}

std::unique_ptr<store::StateStore> open_state_waiting(const config::DaemonConfig& c, int cache_kib,
                                                      std::optional<std::chrono::milliseconds> limit,
                                                      const std::function<bool()>& stop) {
  const auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds wait{0};
  for (;;) {
    try {
      auto state = open_state(c, cache_kib);
      if (wait.count()) spdlog::info("state database available again");
      return state;
    } catch (const store::StateUnavailable& e) {
      const auto waited = std::chrono::steady_clock::now() - start;
      if (limit && waited >= *limit) throw;
      wait = store::next_outage_wait(wait);
      if (limit) wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*limit - waited) +
                                           std::chrono::milliseconds(1));
      spdlog::warn("state database unavailable, next try in {} ms: {}", wait.count(), e.what());
      const auto until = std::chrono::steady_clock::now() + wait;
      while (std::chrono::steady_clock::now() < until) {
        if (stop && stop()) return nullptr;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
      }
    }
  }
}

bool state_exists(const config::DaemonConfig& c) { return c.postgres || std::filesystem::exists(c.state_path); }

std::string state_location(const config::DaemonConfig& c) {
  if (c.postgres) return "postgresql (" + pg_store::full_conninfo(pg_settings(*c.postgres)) + ")";
  return c.state_path.string();
}

namespace {

constexpr const char* kStateUsage =
    "Usage:\n"
    "  reportbridge state migrate --config FILE\n"
    "      Brings the PostgreSQL state schema of FILE's `state:` up to this build's version.\n"
    "  reportbridge state copy --from sqlite:PATH --to FILE [--replace]\n"
    "      Copies a SQLite state database into the PostgreSQL state of FILE's `state:`,\n"
    "      then verifies every table (row counts and checksums). The target must be empty\n"
    "      unless --replace (which empties it first). Stop the bridge before copying.\n";

std::optional<config::DaemonConfig> load_config(const std::string& path) {
  core::Diagnostics diags;
  auto cfg = config::load_daemon_config(path, adapters::builtin_components().specs(), diags);
  if (!cfg || diags.has_errors()) {
    std::cerr << diags.to_string() << "reportbridge: configuration has errors\n";
    return std::nullopt;
  }
  return cfg;
}

}  // namespace

int cmd_state(const std::vector<std::string>& words) {
  if (words.empty() || words[0] == "--help" || words[0] == "-h") {
    std::cerr << kStateUsage;
    return words.empty() ? kExitUsage : kExitOk;
  }
  std::string config_path, from, to;
  bool replace = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= words.size()) return false;
      out = words[++i];
      return true;
    };
    const std::string& w = words[i];
    bool ok = true;
    if (w == "--config") ok = value(config_path);
    else if (w == "--from") ok = value(from);
    else if (w == "--to") ok = value(to);
    else if (w == "--replace") replace = true;
    else ok = false;
    if (!ok) {
      std::cerr << "reportbridge: state: unexpected or incomplete argument '" << w << "'\n" << kStateUsage;
      return kExitUsage;
    }
  }
  if (words[0] == "migrate") {
    if (config_path.empty()) {
      std::cerr << "reportbridge: state migrate needs --config FILE\n";
      return kExitUsage;
    }
    auto cfg = load_config(config_path);
    if (!cfg) return kExitConfigInvalid;
    if (!cfg->postgres) {
      std::cout << "state: SQLite (" << cfg->state_path.string()
                << ") migrates itself when opened; nothing to do\n";
      return kExitOk;
    }
    auto c = pg_store::connect(pg_settings(*cfg->postgres));
    const int before = pg_store::migrate(*c);
    if (before == pg_store::schema_version())
      std::cout << "state: PostgreSQL schema is at version " << before << ", up to date\n";
    else
      std::cout << "state: PostgreSQL schema migrated from version " << before << " to "
                << pg_store::schema_version() << "\n";
    return kExitOk;
  }
  if (words[0] == "copy") {
    if (from.rfind("sqlite:", 0) != 0 || from.size() <= 7 || to.empty()) {
      std::cerr << "reportbridge: state copy needs --from sqlite:PATH and --to FILE\n";
      return kExitUsage;
    }
    auto cfg = load_config(to);
    if (!cfg) return kExitConfigInvalid;
    if (!cfg->postgres) {
      std::cerr << "reportbridge: state copy: the `state:` of " << to << " must be type postgresql\n";
      return kExitUsage;
    }
    const std::string path = from.substr(7);
    if (!std::filesystem::exists(path)) {
      std::cerr << "reportbridge: state copy: no SQLite state database at " << path << "\n";
      return kExitFailure;
    }
    auto target = pg_store::connect(pg_settings(*cfg->postgres));
    const CopyReport report = copy_sqlite_to_postgres(path, *target, replace);
    std::cout << report.text;
    return report.ok ? kExitOk : kExitFailure;
  }
  std::cerr << "reportbridge: state: unknown command '" << words[0] << "'\n" << kStateUsage;
  return kExitUsage;
}

}  // namespace reportbridge::app
