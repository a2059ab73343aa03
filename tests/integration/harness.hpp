#pragma once
// A bridge installation in a temp folder: an app store, a config, mappings,
// and helpers to run the real binary and read what it produced.
#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/support/app_store.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace reportbridge::testing {

inline const char* kAllKindsMapping = R"(mapping: all
targets: [drop]
attachments: true
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Kind, from: kind}
  - {name: Summary, from: summary, transforms: [trim, collapse_whitespace], default: ""}
  - {name: Description, from: description}
  - {name: attachment_files, default: ""}
)";

struct Installation {
  TempDir dir{"rbint"};
  std::string store = (dir / "store.db").string();
  std::string config = (dir / "config.yaml").string();

  explicit Installation(const std::string& mapping = kAllKindsMapping,
                        const std::string& target_extra = "") {
    write_file(dir / "mappings/all.yaml", mapping);
    write_file(config,
               "state:\n  path: state/state.db\n"
               "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n"
               "  poll_interval: 50ms\n  batch_size: 500\n"
               "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
               "mappings: [mappings/all.yaml]\n"
               "targets:\n  - name: drop\n    type: csv_drop\n    directory: out\n"
               "    max_rows: 700\n    max_age: 100ms\n" + target_extra +
               "logging:\n  level: info\n");
  }

  ProcessResult bridge(std::vector<std::string> args) const {
    args.insert(args.begin(), REPORTBRIDGE_BINARY);
    args.push_back("--config");
    args.push_back(config);
    return run_process(args);
  }

  ProcessResult generate(int count, int seed, const std::string& extra = "") const {
    std::vector<std::string> args{REPORTBRIDGE_GEN_STORE, "--db", store, "--media-root",
                                  (dir / "media").string(), "--count", std::to_string(count),
                                  "--seed", std::to_string(seed), "--truth",
                                  (dir / "truth.jsonl").string()};
    if (!extra.empty()) args.push_back(extra);
    return run_process(args);
  }

  // Every published CSV data record (header skipped), cells unquoted (RFC 4180).
  std::vector<std::vector<std::string>> published_records() const {
    std::vector<std::vector<std::string>> records;
    if (!std::filesystem::exists(dir / "out")) return records;
    for (const auto& e : std::filesystem::directory_iterator(dir / "out")) {
      if (e.path().extension() != ".csv") continue;
      const std::string text = read_file(e.path());
      std::vector<std::string> record;
      std::string cell;
      bool quoted = false, header = true;
      for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
          if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
            cell += '"';
            ++i;
          } else if (c == '"') {
            quoted = false;
          } else {
            cell += c;
          }
        } else if (c == '"') {
          quoted = true;
        } else if (c == ',') {
          record.push_back(std::move(cell));
          cell.clear();
        } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
          record.push_back(std::move(cell));
          cell.clear();
          if (!header) records.push_back(std::move(record));
          header = false;
          record.clear();
          ++i;
        } else {
          cell += c;
        }
      }
    }
    return records;
  }

  // Every published CSV data row as "Ref,Version" -> times seen.
  std::map<std::string, int> published() const {
    std::map<std::string, int> rows;
    for (const auto& r : published_records())
      if (r.size() >= 2) rows[r[0] + "," + r[1]]++;
    return rows;
  }

  // submission_id -> state, from the app's submission_status.
  std::map<std::string, std::string> statuses() const { return read_statuses(store); }
};

}  // namespace reportbridge::testing
