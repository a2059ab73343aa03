// Hardening (issue #15) on the real binary: what a careless operator or a
// hostile resident can feed it is refused or made harmless, with a clear error.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/servers/server_process.hpp"

using namespace reportbridge::testing;
namespace fs = std::filesystem;

namespace {

// The first plain scalar item of every list in a YAML tree, with its 1-based
// line and column (a list of maps has none).
struct ListItem {
  int line = 0, column = 0;
  std::string text;
};
void first_scalar_items(const YAML::Node& n, std::vector<ListItem>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) first_scalar_items(kv.second, out);
  } else if (n.IsSequence()) {
    bool taken = false;
    for (const auto& item : n) {
      if (!taken && item.IsScalar()) {
        out.push_back({item.Mark().line + 1, item.Mark().column + 1, item.Scalar()});
        taken = true;
      }
      first_scalar_items(item, out);
    }
  }
}

// Offset of (line, column) in text.
std::size_t offset_of(const std::string& text, int line, int column) {
  std::size_t at = 0;
  for (int l = 1; l < line; ++l) at = text.find('\n', at) + 1;
  return at + static_cast<std::size_t>(column - 1);
}

}  // namespace

// Every list-valued key the shipped config and mappings use refuses a nested
// list in place of one of its values, at that item, through `check` (exit 3).
TEST_CASE("check refuses a nested list in every list of values the shipped config and mappings use") {
  TempDir dir("lists");
  const fs::path src = REPORTBRIDGE_SOURCE_DIR;
  for (const char* sub : {"config", "mappings", "schemas"})
    fs::copy(src / sub, dir / sub, fs::copy_options::recursive);
  const std::string config = (dir / "config/demo.yaml").string();
  REQUIRE(run_process({REPORTBRIDGE_BINARY, "check", "--config", config}).exit_code == 0);

  std::vector<fs::path> files{dir / "config/demo.yaml"};
  for (const auto& e : fs::directory_iterator(dir / "mappings"))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  int tried = 0;
  for (const auto& file : files) {
    const std::string original = read_file(file);
    std::vector<ListItem> items;
    first_scalar_items(YAML::Load(original), items);
    for (const auto& item : items) {
      const std::size_t at = offset_of(original, item.line, item.column);
      if (original.compare(at, item.text.size(), item.text) != 0) continue;  // quoted: skip
      std::string changed = original;
      changed.insert(at + item.text.size(), "]");
      changed.insert(at, "[");
      write_file(file, changed);
      auto r = run_process({REPORTBRIDGE_BINARY, "check", "--config", config});
      write_file(file, original);
      const std::string where = file.string() + ":" + std::to_string(item.line) + ":" + std::to_string(item.column) + ": error: ";
      INFO(where << item.text << "\n" << r.out << r.err);
      CHECK(r.exit_code == 3);
      CHECK(r.out.find(where) != std::string::npos);
      CHECK(r.out.find("not_a_value") != std::string::npos);
      ++tried;
    }
  }
  // mappings, targets, when.kind, transforms, signpost patterns and fields at least.
  CHECK(tried >= 6);
}

// Issue #15 item 6: one rule for every secret file, found by `check` (exit 3),
// not by the first run (exit 1).
TEST_CASE("check refuses a reporter key or a token file others can read, at its position, exit 3") {
  Installation inst;
  create_app_store(inst.store);
  write_file(inst.dir / "dedup.key", "0123456789abcdef0123456789abcdef");
  ::chmod((inst.dir / "dedup.key").c_str(), 0644);
  inst.append_config("dedup:\n  reporter_key_file: dedup.key\n");
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out.find(inst.config + ":22:22: error: dedup reporter_key_file: pseudonymise: key file") != std::string::npos);
  CHECK(r.out.find("must not be accessible by others") != std::string::npos);
  CHECK(r.out.find("[dedup.bad_key_file]") != std::string::npos);
  CHECK(r.out.find("0123456789abcdef") == std::string::npos);
  // `once` stops at the same place, before anything runs.
  CHECK(inst.bridge({"once"}).exit_code == 3);
  // Through a symlink to the open file: the same.
  std::filesystem::rename(inst.dir / "dedup.key", inst.dir / "real.key");
  std::filesystem::create_symlink(inst.dir / "real.key", inst.dir / "dedup.key");
  CHECK(inst.bridge({"check"}).exit_code == 3);
  // Private: accepted.
  ::chmod((inst.dir / "real.key").c_str(), 0600);
  r = inst.bridge({"check"});
  INFO(r.out);
  CHECK(r.exit_code == 0);
  // Too short for a key: also at check.
  write_file(inst.dir / "real.key", "short");
  r = inst.bridge({"check"});
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("shorter than 16 bytes") != std::string::npos);
}

TEST_CASE("check refuses an HTTP store token file others can read, exit 3") {
  Installation inst;
  std::string cfg = read_file(inst.config);
  cfg.replace(cfg.find("  type: sqlite\n  path: store.db\n  media_root: media\n"),
              std::string("  type: sqlite\n  path: store.db\n  media_root: media\n").size(),
              "  type: http\n  base_url: http://127.0.0.1:9/\n  token_file: token\n");
  write_file(inst.config, cfg);
  write_file(inst.dir / "token", "tok-123\n");
  ::chmod((inst.dir / "token").c_str(), 0644);
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("token file " + (inst.dir / "token").string() + ": must not be accessible by others") !=
        std::string::npos);
  CHECK(r.out.find("tok-123") == std::string::npos);
  ::chmod((inst.dir / "token").c_str(), 0600);
  r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}

namespace {

// True when `text` holds a byte that acts on a terminal: a C0 control other
// than LF, TAB and the CR of a CR LF line end, DEL, or a C1 control
// (U+0080-U+009F in UTF-8).
bool has_raw_controls(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9f)
      return true;
  }
  return false;
}

}  // namespace

// Issue #15 item 7: `status` printed a target's fault string raw (a line feed
// forged a line), `preview` printed ESC/OSC/BEL a resident typed.
TEST_CASE("status, preview and audit show print every control character as an escape") {
  ServerProcess faulty({python(), server_script("faulty_server.py"), "0"});
  Installation inst(R"(mapping: all
targets: [drop, rms]
fields:
  - {name: SubmissionId, from: id, required: true}
  - {name: Summary, from: summary}
  - {name: Postcode, from: location.postcode}
)",
                    "  - name: rms\n    type: soap\n    url: " + faulty.url("/hostile-fault") +
                        "\n    schema: " REPORTBRIDGE_SOURCE_DIR "/tests/unit/soap/fixtures/test_report.xsd\n"
                        "    root: CommunityReport\n    create: {soap_action: CreateCommunityReport}\n");
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  // A resident's summary with a terminal title change (OSC), a bell, a screen clear and a line.
  std::string payload = valid_payload(test_id(2));
  const std::string summary = "\"Group throwing stones at buses\"";
  payload.replace(payload.find(summary), summary.size(), R"("Stones\u001b]0;pwned\u0007\u001b[2J at buses\r\nforged: yes")");
  insert_submission(inst.store, 2, test_id(2), 1, payload);
  auto once = inst.bridge({"once"});
  INFO(once.out << once.err);
  REQUIRE(once.exit_code == 0);

  auto status = inst.bridge({"status"});
  INFO(status.out << status.err);
  CHECK(status.exit_code == 0);
  CHECK_FALSE(has_raw_controls(status.out));
  // The fault string stays on its dead letter's line, its line feed visible.
  CHECK(status.out.find("soap_client_fault: SOAP fault") != std::string::npos);
  CHECK(status.out.find("bad data\\nitem 999") != std::string::npos);
  CHECK(status.out.find("\nitem 999") == std::string::npos);
  CHECK(status.out.find("\\u{009B}2J") != std::string::npos);
  CHECK(status.out.find("\\u{202E}evil") != std::string::npos);

  auto preview = inst.bridge({"preview", "--submission", test_id(2)});
  INFO(preview.out << preview.err);
  CHECK_FALSE(has_raw_controls(preview.out));
  // The value, on its lineage line, with every control shown.
  CHECK(preview.out.find("  Summary      = \"Stones\\e]0;pwned\\x07\\e[2J at buses\\r\\nforged: yes\"") !=
        std::string::npos);
  // The rendered CSV shows the controls as the file holds them: markers.
  CHECK(preview.out.find("Stones[U+001B]]0;pwned[U+0007][U+001B][2J at buses") != std::string::npos);

  auto show = inst.bridge({"audit", "show", "--submission", test_id(1)});
  INFO(show.out << show.err);
  CHECK(show.exit_code == 0);
  CHECK_FALSE(has_raw_controls(show.out));
  CHECK(show.out.find("\nitem 999") == std::string::npos);
  CHECK(show.out.find("bad data\\nitem 999") != std::string::npos);
}

// Issue #15 item 8: `check` on a 110 MB config took 3.1 GB; `preview --input
// /dev/zero` read until bad_alloc.
TEST_CASE("oversized config, mapping and preview inputs stop at their cap with a clear error") {
  Installation inst;
  create_app_store(inst.store);
  const std::string good_config = read_file(inst.config);
  // A config padded past 1 MiB with a comment (valid YAML, just too big).
  write_file(inst.config, good_config + "# " + std::string(2u << 20, 'x') + "\n");
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out.find(inst.config + ": error: file is larger than 1 MiB, the limit for a config or mapping file") !=
        std::string::npos);
  CHECK(r.out.find("[file.too_large]") != std::string::npos);
  write_file(inst.config, good_config);

  const std::string mapping = read_file(inst.dir / "mappings/all.yaml");
  write_file(inst.dir / "mappings/all.yaml", mapping + "# " + std::string(2u << 20, 'x') + "\n");
  r = inst.bridge({"check"});
  CHECK(r.exit_code == 3);
  CHECK(r.out.find((inst.dir / "mappings/all.yaml").string() + ": error: file is larger than 1 MiB") !=
        std::string::npos);
  write_file(inst.dir / "mappings/all.yaml", mapping);

  // /dev/zero: rejected for its size, as ingest would (exit 4), after reading about 1 MiB.
  r = inst.bridge({"preview", "--input", "/dev/zero"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("REJECTED by the submission schema") != std::string::npos);
  CHECK(r.out.find("payload larger than 1048576 bytes (1 MiB), the limit for one submission [size]") !=
        std::string::npos);
  CHECK(r.out.find("resident would be told: We could not accept your report because it was too large") !=
        std::string::npos);
}

// Issue #15 item 1, the repro on the real binary: the double tap stored as seq
// 2 and run; the original stored as seq 1 (received earlier) and run; then an
// edit of the original.
TEST_CASE("once: an original ingested after its delivered double tap is linked, never sent twice") {
  Installation inst;
  inst.append_config("dedup: {}\n");
  create_app_store(inst.store);
  const std::string orig = test_id(1), tap = test_id(2);
  insert_submission_received(inst.store, 2, tap, 1, valid_payload(tap), "2026-11-27T18:42:15Z");
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  insert_submission_received(inst.store, 1, orig, 1, valid_payload(orig), "2026-11-27T18:42:11Z");
  auto r = inst.bridge({"once"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto rows = inst.published();
  CHECK(rows[tap + ",1"] == 1);
  CHECK(rows.count(orig + ",1") == 0);
  CHECK(inst.statuses()[orig] == "duplicate");
  CHECK(inst.statuses()[tap] == "forwarded");
  auto show = inst.bridge({"audit", "show", "--submission", orig});
  CHECK(show.out.find("duplicate.fingerprint_sent_first") != std::string::npos);

  // The edit reaches the target (as an update of the tap's record where a
  // target updates by reference; a CSV drop gets its row).
  insert_submission_received(inst.store, 3, orig, 2, valid_payload(orig, 2), "2026-11-27T18:50:00Z");
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  rows = inst.published();
  CHECK(rows[orig + ",2"] == 1);
  CHECK(rows.count(orig + ",1") == 0);
  CHECK(inst.statuses()[orig] == "forwarded");
}
