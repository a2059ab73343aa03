#pragma once
// The file drops' shared publishing library (csv_drop, xml_drop): how the
// files of one delivery batch reach a folder that a legacy system polls,
// crash-safe and idempotent per batch key. A sink renders its documents and
// decides per item; everything about staging, atomic publishing, trigger
// files, attachment copies and redelivery is here, once.
//
// Files of a batch with key K in `directory` (S = "<prefix>-<safe K>"):
//   documents                 named by the sink (e.g. S.csv, S-<n>.xml)
//   .<document>.tmp           a document being written
//   <document>.done           its trigger file (trigger_file), after the document
//   S.attachments/            the batch's attachment copies, published BEFORE any document
//   .S.attachments.tmp/       attachments being copied
// Attachment copies are named <safe submission_id>_v<version>_<n>.<ext> (n
// 1-based, ext from the media type), never after the payload's file name.
//
// Publishing (publish): leftovers of a crashed attempt are removed (no
// document refers to them yet); the attachments of accepted items are
// streamed, size- and SHA-256-checked, into the staging folder, which is
// fsynced and renamed; then the sink writes its documents with
// publish_document (temp file, fsync, rename, folder fsync, then the trigger
// file). A failure part-way removes temp files and, while no document is
// published, the attachment folder too, and is rethrown: the sink answers
// retry "io_error" and the next attempt takes the same path again.
//
// Redelivery (a document of the key exists): nothing published is
// rewritten. recheck_published recomputes the outcomes of published items
// from what is in the folder; complete_attachments adds the missing copies
// for documents still to write; write_missing_triggers writes missing `.done`.
//
// Attachment failures (transfer_attachment, attachment_copy.hpp): a transient
// one leaves the item out with retry "attachment_unavailable" (it goes in a
// later batch), a permanent one rejects it with the attachment's code.
// deliver() of one sink must not run concurrently; the functions here keep
// no state between calls.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/sink.hpp"
#include "bridge/file_drop/durable_file.hpp"

namespace reportbridge::file_drop {

struct Settings {
  std::string name;                 // the target's name (messages, logs)
  std::filesystem::path directory;  // where files are published; created if missing
  std::string prefix;               // file name prefix: [A-Za-z0-9._-], no leading dot
  bool trigger_file = false;        // write <document>.done after each document
  bool copy_attachments = true;
  std::uint64_t max_attachment_bytes = 50ull << 20;  // larger: the item is rejected
};

// One delivery item as the drop handles it. The sink sets `reject` for an
// item it cannot render; the drop sets it for attachment failures.
struct DropItem {
  const core::DeliveryItem* item = nullptr;
  std::vector<std::string> attachment_names;  // the names of its copies (empty: none copied)
  std::optional<core::DeliveryOutcome> reject;  // set: left out of the documents (reject or retry)
  bool published = false;  // its document exists already (redelivery)
};

// The paths of one batch's files.
struct BatchFiles {
  std::filesystem::path directory;
  std::vector<std::string> names;  // the documents, as the sink names them
  std::filesystem::path attachments, attachments_tmp;
  // The batch's DeliveryBatch::still_held (several instances): asked just
  // before each document is renamed into place; false -> not published (an
  // instance paused past its lease publishes nothing another one took over).
  std::function<bool()> still_held;

  std::filesystem::path file(std::size_t i) const { return directory / names[i]; }
  std::filesystem::path tmp(std::size_t i) const { return directory / ("." + names[i] + ".tmp"); }
  std::filesystem::path done(std::size_t i) const { return directory / (names[i] + ".done"); }
  std::filesystem::path done_tmp(std::size_t i) const { return directory / ("." + names[i] + ".done.tmp"); }
  // True when document i exists as a regular file.
  bool exists(std::size_t i) const;
};

// Writes a document's bytes in chunks (memory stays flat however many rows).
class DocumentWriter {
 public:
  void write(std::string_view bytes);

 private:
  friend class FileDrop;
  DocumentWriter(const FileHandle& file, const std::filesystem::path& path) : file_(file), path_(path) {}
  void finish();
  const FileHandle& file_;
  const std::filesystem::path& path_;
  std::string buffer_;
};

class FileDrop {
 public:
  // Throws std::invalid_argument("<kind> '<name>': ...") for an empty
  // directory, an unsafe prefix, or copy_attachments without a locator.
  FileDrop(Settings settings, core::AttachmentLocator locator, std::string_view kind);

  const Settings& settings() const { return settings_; }

  // "<prefix>-<safe batch key>": the stem of a batch's file names.
  std::string stem(std::string_view batch_key) const;
  BatchFiles files(std::string_view batch_key, std::vector<std::string> document_names) const;
  // The names a record's attachment copies get, in order (empty without copy_attachments).
  std::vector<std::string> attachment_names(const core::TargetRecord& record) const;
  // One DropItem per batch item, with its attachment names.
  std::vector<DropItem> items(const core::DeliveryBatch& batch) const;

  // Creates the folder if missing (and makes the new folder itself durable).
  void ensure_directory() const;

  // The publishing protocol above. `after_attachments` runs once the
  // attachments are staged and may reject more items (e.g. a batch document
  // that does not validate); `write_documents` runs only when an item is
  // still accepted, after the attachments are published, and publishes the
  // documents with publish_document.
  void publish(const BatchFiles& files, std::vector<DropItem>& items, const std::function<void()>& after_attachments,
               const std::function<void()>& write_documents) const;
  // Publishes document i (temp, fsync, rename, folder fsync), then its
  // trigger file when configured and missing.
  void publish_document(const BatchFiles& files, std::size_t i, std::string_view content) const;
  void publish_document(const BatchFiles& files, std::size_t i,
                        const std::function<void(DocumentWriter&)>& write) const;

  // Redelivery: removes temp files and the staging folder of an earlier attempt.
  void remove_temp_files(const BatchFiles& files) const;
  // Redelivery: a published item whose attachment copies are not all in the
  // published folder is delivered when `in_document(item)` says its record is
  // in the published document (the consumer may have taken the copy);
  // otherwise it was left out when an attachment failed, and it gets that
  // attachment's failure again, or retry "attachment_unavailable".
  void recheck_published(const BatchFiles& files, std::vector<DropItem>& items,
                         const std::function<bool(const DropItem&)>& in_document) const;
  // Redelivery: copies the missing attachments of accepted, unpublished items
  // into the published folder (each staged under a dot-name and renamed).
  void complete_attachments(const BatchFiles& files, std::vector<DropItem>& items) const;
  // Redelivery: the trigger files of existing documents that lack one.
  void write_missing_triggers(const BatchFiles& files) const;

  // One attachment through the locator (transfer_attachment), with this
  // drop's size limit; copied to `destination` when set.
  std::optional<core::DeliveryOutcome> transfer(const core::AttachmentRef& attachment, std::size_t n,
                                                std::size_t count,
                                                const std::filesystem::path* destination) const;

 private:
  // Copies the attachments of accepted, unpublished items into `folder`;
  // with `only_missing`, files already there are kept and new ones staged
  // under a dot-name and renamed.
  void copy_attachments(const std::filesystem::path& folder, std::vector<DropItem>& items,
                        bool only_missing) const;

  Settings settings_;
  core::AttachmentLocator locator_;
};

}  // namespace reportbridge::file_drop
