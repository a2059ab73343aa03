#pragma once
// Test fixtures for the app's SQLite store (shared/contracts/app-store.md §1).
#include <cstdint>
#include <map>
#include <string>

namespace reportbridge::testing {

// Creates the contract's tables in a new store file.
void create_app_store(const std::string& path);
// Inserts one row with an explicit seq through its own connection (commits).
void insert_submission(const std::string& path, std::int64_t seq, const std::string& id,
                       std::int64_t version, const std::string& payload);
// The same with the row's received_at (RFC 3339), for tests of arrival order.
void insert_submission_at(const std::string& path, std::int64_t seq, const std::string& id,
                          std::int64_t version, const std::string& payload, const std::string& received_at);
// submission_id -> reference written back (empty when none), from submission_status.
std::map<std::string, std::string> read_status_references(const std::string& path);
// A valid payload per the contract; `n` varies the id and text.
std::string valid_payload(const std::string& id, std::int64_t version = 1,
                          const std::string& kind = "concern",
                          const std::string& summary = "Group throwing stones at buses");
// submission_id -> state, from the store's submission_status.
std::map<std::string, std::string> read_statuses(const std::string& path);
// A deterministic UUID-shaped id for test row n.
std::string test_id(int n);

}  // namespace reportbridge::testing
