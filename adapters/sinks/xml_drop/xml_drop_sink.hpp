#pragma once
// XML drop sink: writes XML documents, validated against the target's XSD,
// into a folder that a legacy system polls. See docs/sinks/xml_drop.md.
//
// Documents
// - Rendered by xml::XmlRenderer from the record (element order from the XSD,
//   absent fields omitted, one element per attachment) from the whole schema
//   set (includes/imports of local files, namespaces from layout.namespaces)
//   and validated with xml::XsdValidator BEFORE anything is written.
//   Characters XML cannot hold (U+0000, U+000B, U+001B, U+FFFE, invalid
//   UTF-8, ...) are replaced by U+FFFD (layout.illegal_characters) and the
//   item is delivered; the count is logged, never the value. An item that
//   does not render (unknown_field, duplicate_field, bad_list,
//   choice_conflict, nil_conflict) or does not validate (schema_invalid: libxml2's messages with the line in the
//   item's own pretty document, quoted values replaced by '[value]') is
//   rejected; the other items of the batch are published.
// - Update of an earlier delivery: when DeliveryItem::prior_reference is set,
//   the record has no value for `related_reference_field` and the schema has
//   that field, the sink fills it with the prior reference.
// - Mode per_submission: one document per item, `<prefix>-<safe key>-<n>.xml`
//   (n = 1-based position in the batch), reference = that file name.
//   Mode batch: one document `<prefix>-<safe key>.xml` whose root is
//   `batch_root` (attributes batchKey and count set when the XSD declares
//   them) holding the accepted records; reference "<file>#<n>" (1-based among
//   the records in the file). The batch document is validated too.
//
// Publishing (the shared file-drop library, bridge/file_drop, as csv_drop)
// - Each file goes to `.<file>.tmp`, is fsynced, renamed, and the folder
//   fsynced; with `trigger_file`, an empty `<file>.done` follows the same way.
// - Attachments are copied (SHA-256 checked) into
//   `.<prefix>-<key>.attachments.tmp/`, fsynced and renamed to
//   `<prefix>-<key>.attachments/` before any document; file names
//   `<safe submission_id>_v<version>_<n>.<ext>`, shown in each Attachment's
//   StoredFile element when the XSD has one.
// - Attachment failures (file_drop::transfer_attachment, shared with csv_drop):
//   a transient locator failure (AttachmentError `unavailable`, e.g. HTTP 503,
//   or std::system_error) -> retry "attachment_unavailable": the item is left
//   out now and delivered in a later batch; a permanent AttachmentError ->
//   reject with its code; any other locator throw or a missing file -> reject
//   "attachment_unavailable"; attachment_too_large, attachment_mismatch.
//   Partial copies are removed. Batch-mode redelivery: an item whose file is
//   not in the published folder was left out, so it gets retry (or its
//   attachment's failure).
// - Idempotent per batch key: a document that already exists is never
//   rewritten; outcomes are recomputed the same way and missing `.done` files
//   written. In per_submission mode a crash between two documents leaves the
//   rest to the redelivery, which writes only the missing ones.
// - I/O failure: every item gets retry/"io_error".
// deliver() must not run concurrently on one instance; encode_preview() may.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/sink.hpp"
#include "bridge/file_drop/file_drop.hpp"
#include "bridge/xml/xml_renderer.hpp"
#include "bridge/xml/xsd_validator.hpp"

namespace reportbridge::xml_drop {

enum class Mode {
  per_submission,  // one document per item
  batch,           // one document per batch, records wrapped in `batch_root`
};

struct XmlDropConfig {
  std::string name;                 // target name
  std::filesystem::path directory;  // created if missing
  std::string file_prefix;          // default (empty) = name; only [A-Za-z0-9._-], no leading dot
  Mode mode = Mode::per_submission;
  std::filesystem::path xsd;        // the target's schema (schemas/...): an XSD with its includes/imports, or a WSDL
  xml::XmlLayout layout;            // root (required), namespace, prefix, namespaces, fields, attachments
  std::string batch_root;           // batch mode: global element wrapping the records
  bool pretty = true;               // indented output (line numbers in errors refer to it)
  std::size_t max_items = 1000;     // -> batch_policy().max_items
  std::chrono::milliseconds max_age{60000};  // -> batch_policy().max_wait
  bool trigger_file = false;
  bool copy_attachments = true;
  std::uint64_t max_attachment_bytes = 50ull << 20;
  std::string related_reference_field = "RelatedReference";  // empty: never filled
};

class XmlDropSink : public core::Sink {
 public:
  // Throws std::invalid_argument for an invalid configuration (names, prefix,
  // layout not fitting the schema, batch_root not wrapping the root, no
  // locator while copying attachments) and std::runtime_error when the XSD
  // cannot be read or compiled.
  XmlDropSink(XmlDropConfig config, core::AttachmentLocator locator);
  ~XmlDropSink() override;

  const std::string& name() const override { return config_.name; }
  core::BatchPolicy batch_policy() const override;

  // The record's document exactly as per_submission mode writes it (in batch
  // mode: the record's element as a standalone document). Throws
  // std::runtime_error "<reason_code>: <detail>" when the item would be
  // rejected (render error or schema_invalid, with unredacted messages).
  std::string encode_preview(const core::TargetRecord& record) const override;

  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override;
  // A later version names the earlier document's reference in related_reference_field.
  bool updates_by_reference() const override { return fill_related_reference_; }

  const XmlDropConfig& config() const { return config_; }
  const xml::XmlRenderer& renderer() const { return *renderer_; }
  // The document file of a batch (batch mode) or of item `index` (0-based, per_submission).
  std::string file_name(std::string_view batch_key, std::size_t index = 0) const;
  // Published names of a record's attachments, in order (empty without copy_attachments).
  std::vector<std::string> attachment_file_names(const core::TargetRecord& record) const;

 private:
  using Items = std::vector<file_drop::DropItem>;
  using Docs = std::vector<xml::DocPtr>;  // per item: its rendered, validated document

  file_drop::BatchFiles files_for(const core::DeliveryBatch& batch) const;
  // Renders and validates; fills `doc` or item.reject.
  void render(const core::DeliveryItem& item, file_drop::DropItem& plan, xml::DocPtr& doc) const;
  std::string serialize(const xmlDoc& doc) const;
  // Batch mode: the wrapping document of the accepted items; null (and every
  // accepted item rejected) when it does not validate.
  xml::DocPtr batch_document(const core::DeliveryBatch& batch, Items& items, const Docs& docs) const;
  void publish_documents(const file_drop::BatchFiles& files, const Items& items, const Docs& docs,
                         const xmlDoc* batch_doc) const;
  std::vector<core::DeliveryOutcome> publish(const core::DeliveryBatch& batch, const file_drop::BatchFiles& files,
                                             Items& items, const Docs& docs);
  std::vector<core::DeliveryOutcome> redeliver(const core::DeliveryBatch& batch, const file_drop::BatchFiles& files,
                                               Items& items, const Docs& docs);
  std::vector<core::DeliveryOutcome> outcomes(const file_drop::BatchFiles& files, const Items& items) const;
  void log_rejections(const core::DeliveryBatch& batch, const Items& items) const;

  XmlDropConfig config_;
  std::optional<file_drop::FileDrop> drop_;
  std::unique_ptr<xml::XmlRenderer> renderer_;
  std::unique_ptr<xml::XmlRenderer> batch_renderer_;  // batch mode only
  std::unique_ptr<xml::XsdValidator> validator_;
  bool fill_related_reference_ = false;
};

}  // namespace reportbridge::xml_drop
