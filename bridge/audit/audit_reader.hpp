#pragma once
// Reading an audit trail: verifying its hash chain across all files, and
// querying one submission's history.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bridge/audit/audit_entry.hpp"

namespace reportbridge::audit {

struct VerifyOptions {
  // Accept an oldest file that does not chain from genesis (older files were
  // archived elsewhere); the first entry present is reported as a note.
  bool allow_archived = false;
  // A head recorded earlier (`audit verify` prints it): the entry `head_seq`
  // must still exist with this line hash. Detects lines cut from the end.
  std::optional<std::int64_t> head_seq;
  std::string head_hash;
  // A fleet member's chain: every entry's `instance` field must name it
  // ("<instance>/<id per start>"); an entry naming another instance was moved
  // between chains.
  std::string instance;
};

struct VerifyResult {
  bool ok = true;
  // The first break: where (file name and 1-based line) and what broke.
  std::string file;
  std::size_t line = 0;
  std::string problem;
  std::vector<std::string> notes;  // things that are not tampering (acknowledged torn lines, archived head)
  std::size_t files = 0;
  std::size_t entries = 0;
  std::int64_t first_seq = 0;
  std::int64_t last_seq = 0;
  std::string head_hash;  // line hash of the last entry

  // "audit-...jsonl:17: <problem>", or an empty string when ok.
  std::string location() const;
};

// Walks every file in chain order and recomputes the chain. A directory that
// changed while it was read (the daemon rotated or appended) is read again.
// Throws std::runtime_error if the folder cannot be read.
VerifyResult verify_chain(const std::filesystem::path& dir, const VerifyOptions& options = {});

struct Query {
  std::string submission_id;  // empty: any
  std::string target;         // empty: any
  std::optional<std::int64_t> since_ms;  // inclusive
  std::optional<std::int64_t> until_ms;  // exclusive
};

struct QueryResult {
  struct Hit {
    Entry entry;
    std::string line;  // the entry exactly as stored (empty for the further submissions of a batch entry)
    std::string instance;  // the instance that wrote it (query_chains; empty for a lone instance)
  };
  std::vector<Hit> hits;  // by time, then seq
  std::vector<std::string> warnings;  // lines that could not be read (file:line: why)
};

QueryResult query(const std::filesystem::path& dir, const Query& q);

// The same over every chain of list_audit_chains(dir), merged in time order
// (then instance, then seq); each hit names its instance (the name the entry
// itself carries, sealed in its hash; else the chain's folder). Warnings name
// the chain's folder.
QueryResult query_chains(const std::filesystem::path& dir, const Query& q);

// The instance name an entry carries: its `instance` field up to the last
// '/' ("bridge-a/9f1c..." -> "bridge-a"); empty for a lone instance's entries.
std::string instance_of(const Entry& e);

}  // namespace reportbridge::audit
