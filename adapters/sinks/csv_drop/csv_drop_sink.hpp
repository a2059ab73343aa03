#pragma once
// CSV drop sink: writes one CSV file per delivery batch into a folder that a
// legacy system polls. See docs/sinks/csv_drop.md.
//
// File format
// - One header row (column names) unless `header` is false, then one row per
//   delivered record; columns come from the mapping, in order. A field missing
//   from a record or null renders as an empty cell.
// - RFC 4180: a cell holding the delimiter, '"', CR or LF is quoted, inner
//   quotes are doubled, rows end with `line_ending` (CRLF by default).
// - Formula neutralisation (`formula_guard`, on by default, OWASP "CSV
//   injection"): a cell starting with = + - @ TAB or CR gets a leading single
//   quote ' so spreadsheets show it as text; quoting applies afterwards. Plain
//   decimal numbers ("-1.2350", "+447700900123") are left alone.
// - Encodings: UTF-8, UTF-8 with a BOM (EF BB BF once at file start, for
//   Excel), Windows-1252 through ICU. Windows-1252 never writes a silent '?':
//   `transliterate` turns letters into Latin/ASCII ("ł" -> "l", Arabic and
//   Chinese -> Latin transliteration) and writes anything still unencodable as
//   the visible marker "[U+1F64F]"; `reject` rejects the item (reason
//   "unencodable", detail names the field and code points, never the text).
//   Characters Windows-1252 has (é £ € ’) are always encoded exactly.
//   unencodable_replaced() counts characters transliterated or marked in
//   published rows.
//
// Delivery (deliver), through the shared file-drop library (bridge/file_drop)
// - File `<prefix>-<safe key>.csv`, published atomically: written to
//   `.<file>.tmp` in the same folder, fsynced, renamed, folder fsynced. With
//   `trigger_file`, an empty `<file>.done` follows, published the same way.
// - Items that cannot be delivered are left out and rejected; the others get
//   reference "<file>#<row>" (1-based among data rows). No file when every item
//   is rejected.
// - Idempotent per batch key: when `<file>` already exists the sink does not
//   rewrite it; it recomputes the same outcomes (rejections included) and
//   writes a missing `.done`. Leftover temp files of a crashed attempt are
//   removed.
// - I/O failure: every item gets retry/"io_error" and nothing is published.
//
// Attachments (copy_attachments; file_drop::FileDrop)
// - Each attachment is resolved through the AttachmentLocator, streamed in
//   64 KiB chunks with SHA-256
//   (mismatch -> "attachment_mismatch"; over max_attachment_bytes ->
//   "attachment_too_large"; partial copies removed) into
//   `.<prefix>-<key>.attachments.tmp/`, which is fsynced and renamed to
//   `<prefix>-<key>.attachments/` BEFORE the CSV is published.
// - Locator failures (file_drop::transfer_attachment): a transient
//   one (attachments::AttachmentError `unavailable`, e.g. the HTTP store
//   answered 503; std::system_error) -> retry "attachment_unavailable": the
//   item is left out of this file, stays in the outbox and goes into a later
//   batch's file once the attachment comes through. A permanent AttachmentError
//   -> reject with its code (attachment_mismatch, attachment_size_mismatch,
//   attachment_type_mismatch, ...). Any other throw (unsafe or missing path)
//   -> reject "attachment_unavailable". Details never carry the path.
// - Redelivery of a published batch: an item whose attachment file is not in
//   the published folder counts as delivered only if its row is in the CSV;
//   otherwise it gets its attachment's failure again, or retry.
// - Names: `<safe submission_id>_v<version>_<n>.<ext>` (n 1-based, ext from the
//   media type: jpg png heic mp4 mov, else bin); never the payload's filename.
// - If the column list contains `attachment_files`, the sink fills that column
//   with the record's published file names joined by ';' (whatever the mapping
//   put there is ignored); otherwise the columns are left alone.
//
// Reason codes: io_error (retry), attachment_unavailable (retry when
// transient, else reject), unencodable, invalid_utf8, attachment_mismatch,
// attachment_too_large and the other attachments::to_string codes (reject).
// Logs carry batch keys, counts, outbox ids and reason codes, never field values.
// deliver() must not run concurrently on one instance.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/sinks/csv_drop/csv_format.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/file_drop/file_drop.hpp"

namespace reportbridge::csv_drop {

struct CsvDropConfig {
  std::string name;                 // target name
  std::filesystem::path directory;  // published files land here (created if missing)
  std::string file_prefix;          // default (empty) = name; only [A-Za-z0-9._-], no leading dot
  char delimiter = ',';             // ',', ';', '\t' or '|'
  Encoding encoding = Encoding::utf8;
  UnencodablePolicy unencodable = UnencodablePolicy::transliterate;  // for windows_1252
  bool header = true;
  bool formula_guard = true;                  // neutralise cells starting with = + - @ TAB CR
  std::size_t max_rows = 5000;                // rows per file -> batch_policy().max_items
  std::chrono::milliseconds max_age{60000};  // a file waits at most this -> batch_policy().max_wait
  bool trigger_file = false;                  // write <file>.done after publishing
  bool copy_attachments = true;
  std::uint64_t max_attachment_bytes = 50ull << 20;  // larger: item rejected (attachment_too_large)
  std::string line_ending = "\r\n";                  // "\r\n" (RFC 4180) or "\n"
};

// The column the sink fills with published attachment file names, if mapped.
inline constexpr std::string_view kAttachmentFilesColumn = "attachment_files";

class CsvDropSink : public core::Sink {
 public:
  // Throws std::invalid_argument for an invalid configuration (delimiter, line
  // ending, prefix, empty/duplicate columns, header unencodable under reject,
  // missing locator while copying attachments) and std::runtime_error when ICU
  // data for Windows-1252 is unavailable.
  CsvDropSink(CsvDropConfig config, std::vector<std::string> columns, core::AttachmentLocator locator);
  ~CsvDropSink() override;

  const std::string& name() const override { return config_.name; }
  core::BatchPolicy batch_policy() const override;

  // The header line (if any) and the record's line, encoded exactly as in the
  // file, preceded by the BOM when the encoding is utf8_bom. The
  // attachment_files column shows the names the files would be published under.
  // Throws std::runtime_error (message = the reject detail) when the record
  // would be rejected for its encoding.
  std::string encode_preview(const core::TargetRecord& record) const override;

  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override;

  // Characters transliterated or written as markers in published rows.
  std::uint64_t unencodable_replaced() const { return replaced_.load(); }

  const CsvDropConfig& config() const { return config_; }
  const std::vector<std::string>& columns() const { return columns_; }
  // "<prefix>-<safe key>.csv"
  std::string file_name(std::string_view batch_key) const;
  // Published names of a record's attachments, in order.
  std::vector<std::string> attachment_file_names(const core::TargetRecord& record) const;

 private:
  // Per item: its encoded row (with line ending) and the characters replaced in it.
  struct Row {
    std::string line;
    std::uint64_t replaced = 0;
  };

  // Encoded data line (with line ending), or the reject outcome.
  std::optional<core::DeliveryOutcome> render_row(const core::TargetRecord& record,
                                                  const std::vector<std::string>& attachment_names,
                                                  std::string& line, std::uint64_t& replaced) const;
  std::vector<core::DeliveryOutcome> publish(const core::DeliveryBatch& batch, const file_drop::BatchFiles& files,
                                             std::vector<file_drop::DropItem>& items, const std::vector<Row>& rows);
  std::vector<core::DeliveryOutcome> redeliver(const core::DeliveryBatch& batch, const file_drop::BatchFiles& files,
                                               std::vector<file_drop::DropItem>& items, const std::vector<Row>& rows);
  bool contains_row(const std::string& file, const std::string& line) const;
  std::vector<core::DeliveryOutcome> outcomes(const file_drop::BatchFiles& files,
                                              const std::vector<file_drop::DropItem>& items) const;

  CsvDropConfig config_;
  std::vector<std::string> columns_;
  std::optional<file_drop::FileDrop> drop_;
  std::optional<std::size_t> attachment_column_;
  std::string header_line_;  // encoded, with line ending; empty without header
  std::atomic<std::uint64_t> replaced_{0};
};

}  // namespace reportbridge::csv_drop
