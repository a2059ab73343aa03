// Hand cross-check against the generator's ground truth (hidden, not run by ctest):
//   gen_submissions.py --db /tmp/x.db --count 3000 --truth /tmp/x.jsonl --force
//   RB_CROSSCHECK_DB=/tmp/x.db RB_CROSSCHECK_TRUTH=/tmp/x.jsonl submission_crosscheck_test [.crosscheck]
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include <boost/json.hpp>

#include "bridge/schema/submission_schema.hpp"

namespace json = boost::json;
using namespace reportbridge::schema;

TEST_CASE("generated rows: valid ones pass, malformed ones fail", "[.crosscheck]") {
  const char* db_path = std::getenv("RB_CROSSCHECK_DB");
  const char* truth_path = std::getenv("RB_CROSSCHECK_TRUTH");
  if (db_path == nullptr || truth_path == nullptr) {
    WARN("RB_CROSSCHECK_DB / RB_CROSSCHECK_TRUTH not set: skipped");
    return;
  }
  reportbridge::core::Diagnostics diags;
  auto schema = SubmissionSchema::load(
      std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json", diags);
  REQUIRE(schema);

  struct Truth {
    bool valid = false;
    std::string reason;
  };
  std::map<std::int64_t, Truth> truth;
  std::ifstream in(truth_path);
  REQUIRE(in);
  for (std::string line; std::getline(in, line);) {
    auto rec = json::parse(line).as_object();
    Truth t;
    t.valid = rec.at("valid").as_bool();
    if (rec.at("reason").is_string()) t.reason = std::string(rec.at("reason").as_string());
    truth[rec.at("seq").as_int64()] = t;
  }

  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT seq, id, version, payload FROM submissions ORDER BY seq",
                             -1, &st, nullptr) == SQLITE_OK);
  std::size_t rows = 0, valid_pass = 0, valid_fail = 0, bad_fail = 0, bad_pass = 0;
  std::map<std::string, std::size_t> rejected_by_keyword, malformed_by_reason;
  while (sqlite3_step(st) == SQLITE_ROW) {
    ++rows;
    std::int64_t seq = sqlite3_column_int64(st, 0);
    std::string id(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    std::int64_t version = sqlite3_column_int64(st, 2);
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    std::string_view payload(p, static_cast<std::size_t>(sqlite3_column_bytes(st, 3)));
    auto r = check_payload(*schema, payload, id, version);
    auto it = truth.find(seq);
    REQUIRE(it != truth.end());
    if (it->second.valid) {
      if (r.ok()) {
        ++valid_pass;
      } else {
        ++valid_fail;
        std::cout << "valid row " << seq << " rejected: " << to_string(r.errors.front()) << "\n";
      }
    } else {
      ++malformed_by_reason[it->second.reason];
      if (r.ok()) {
        ++bad_pass;
        std::cout << "malformed row " << seq << " (" << it->second.reason << ") passed\n";
      } else {
        ++bad_fail;
        ++rejected_by_keyword[r.errors.front().keyword];
      }
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);

  std::cout << "rows " << rows << ": valid " << valid_pass + valid_fail << " (passed "
            << valid_pass << ", rejected " << valid_fail << "), malformed "
            << bad_fail + bad_pass << " (rejected " << bad_fail << ", passed " << bad_pass
            << ")\n  malformed by reason:";
  for (const auto& [k, v] : malformed_by_reason) std::cout << " " << k << "=" << v;
  std::cout << "\n  rejected by first keyword:";
  for (const auto& [k, v] : rejected_by_keyword) std::cout << " " << k << "=" << v;
  std::cout << "\n";
  CHECK(rows == truth.size());
  CHECK(valid_fail == 0);
  CHECK(bad_pass == 0);
}
