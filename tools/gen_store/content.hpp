#pragma once
// Builds submission documents (contract section 3): places, people, text in
// several languages, attachment files, and the edits that make duplicates,
// updates and malformed payloads. Internal to the generator.
#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "tools/gen_store/json_writer.hpp"
#include "tools/gen_store/rng.hpp"

namespace reportbridge::gen {

struct ContentOptions {
  std::filesystem::path media_root;  // empty: documents never get attachments
  double attachment_rate = 0.0;
  double formula_rate = 0.0;
};

class Content {
 public:
  explicit Content(ContentOptions options);

  // A fresh, valid version-1 document received at `received` (Unix seconds).
  // Attachment files are written when `with_attachments` and the rate allows.
  boost::json::object document(Rng& rng, std::string_view id, std::int64_t received,
                               bool with_attachments, const boost::json::storage_ptr& sp);

  // Turns `doc` (a parsed earlier document) into its double-tap twin: new id,
  // maybe a few seconds later, attachment files copied under new ids.
  void exact_dup(Rng& rng, boost::json::object& doc, std::string_view new_id, std::int64_t received);

  // Turns `doc` into version `version`; returns the change made
  // ("added_detail", "added_photo" or "corrected_address").
  std::string update(Rng& rng, boost::json::object& doc, std::int64_t version, std::int64_t received);

  // A broken payload for row id `id`, version 1; `reason` gets the truth label.
  std::string malformed(Rng& rng, std::string_view id, std::int64_t received, JsonWriter& writer,
                        std::string& reason, const boost::json::storage_ptr& sp);

  std::int64_t files_written() const { return files_; }
  std::int64_t bytes_written() const { return bytes_; }

 private:
  boost::json::object attachment(Rng& rng, std::int64_t received, std::string_view media_type,
                                 const boost::json::storage_ptr& sp);
  std::filesystem::path ensure_day_dir(const std::string& day);

  ContentOptions options_;
  std::string last_dir_;
  std::string file_buf_;
  std::int64_t files_ = 0;
  std::int64_t bytes_ = 0;
};


// A random version-4 UUID drawn from `rng`.
std::string uuid_v4(Rng& rng);

}  // namespace reportbridge::gen
