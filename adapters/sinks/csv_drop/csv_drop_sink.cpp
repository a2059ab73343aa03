#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "bridge/file_drop/names.hpp"

namespace reportbridge::csv_drop {

namespace fs = std::filesystem;
using core::DeliveryOutcome;
using core::DeliveryStatus;

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

DeliveryOutcome reject(std::string code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, std::move(code), std::move(detail));
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back(sep);
    out += parts[i];
  }
  return out;
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::system_error(EIO, std::generic_category(), "read " + path.string());
  return data;
}

}  // namespace

// True when `line` (with its line ending) is one whole row of `file`.
bool CsvDropSink::contains_row(const std::string& file, const std::string& line) const {
  const std::size_t first = config_.encoding == Encoding::utf8_bom ? kBom.size() : 0;
  for (std::size_t at = file.find(line, first); at != std::string::npos; at = file.find(line, at + 1)) {
    if (at == first || file.compare(at - config_.line_ending.size(), config_.line_ending.size(),
                                    config_.line_ending) == 0)
      return true;
  }
  return false;
}

CsvDropSink::CsvDropSink(CsvDropConfig config, std::vector<std::string> columns,
                         core::AttachmentLocator locator)
    : config_(std::move(config)), columns_(std::move(columns)) {
  const auto invalid = [this](const std::string& what) {
    return std::invalid_argument("csv_drop target '" + config_.name + "': " + what);
  };
  if (config_.name.empty()) throw invalid("name is empty");
  if (config_.directory.empty()) throw invalid("directory is empty");
  const std::string_view delimiters(",;\t|");
  if (delimiters.find(config_.delimiter) == std::string_view::npos)
    throw invalid("delimiter must be one of ',', ';', tab or '|'");
  if (config_.line_ending != "\r\n" && config_.line_ending != "\n")
    throw invalid("line_ending must be \"\\r\\n\" or \"\\n\"");
  if (config_.max_rows == 0) throw invalid("max_rows must be at least 1");
  if (config_.max_age.count() < 0) throw invalid("max_age must not be negative");
  drop_.emplace(file_drop::Settings{config_.name, config_.directory,
                                    config_.file_prefix.empty() ? config_.name : config_.file_prefix,
                                    config_.trigger_file, config_.copy_attachments, config_.max_attachment_bytes},
                std::move(locator), "csv_drop target");
  if (columns_.empty()) throw invalid("no columns");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].empty()) throw invalid("empty column name");
    if (!seen.insert(columns_[i]).second) throw invalid("duplicate column '" + columns_[i] + "'");
    if (columns_[i] == kAttachmentFilesColumn) attachment_column_ = i;
  }
  if (config_.header) {
    std::vector<std::string> cells;
    for (const auto& column : columns_) {
      EncodeResult enc = encode_text(column, config_.encoding, config_.unencodable);
      if (!enc.ok) throw invalid("column '" + column + "': " + enc.error);
      cells.push_back(escape_cell(enc.bytes, config_.delimiter, config_.formula_guard));
    }
    header_line_ = join(cells, config_.delimiter) + config_.line_ending;
  }
  if (config_.encoding == Encoding::windows_1252 &&
      config_.unencodable == UnencodablePolicy::transliterate) {
    // Fail at start-up, not at the first record, if ICU's transliteration data is missing.
    (void)encode_text("\xC5\x82", config_.encoding, config_.unencodable);
  }
}

CsvDropSink::~CsvDropSink() = default;

core::BatchPolicy CsvDropSink::batch_policy() const {
  return core::BatchPolicy{config_.max_rows, config_.max_age};
}

std::string CsvDropSink::file_name(std::string_view batch_key) const { return drop_->stem(batch_key) + ".csv"; }

std::vector<std::string> CsvDropSink::attachment_file_names(const core::TargetRecord& record) const {
  return drop_->attachment_names(record);
}

std::optional<DeliveryOutcome> CsvDropSink::render_row(const core::TargetRecord& record,
                                                       const std::vector<std::string>& attachment_names,
                                                       std::string& line,
                                                       std::uint64_t& replaced) const {
  line.clear();
  replaced = 0;
  std::string joined;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i) line.push_back(config_.delimiter);
    std::string_view value;
    if (attachment_column_ && *attachment_column_ == i) {
      joined = join(attachment_names, ';');
      value = joined;
    } else {
      // A mapping's fields are its columns, in order: try the same position first.
      const std::optional<std::string>* v =
          i < record.fields.size() && record.fields[i].name == columns_[i] ? &record.fields[i].value
                                                                            : record.find(columns_[i]);
      if (v && v->has_value()) value = **v;
    }
    if (is_plain_ascii(value)) {  // the same bytes in every encoding: no copy, no conversion
      append_escaped_cell(line, value, config_.delimiter, config_.formula_guard);
      continue;
    }
    EncodeResult enc = encode_text(value, config_.encoding, config_.unencodable);
    if (!enc.ok) {
      if (enc.unencodable.empty())
        return reject("invalid_utf8", "field '" + columns_[i] + "': " + enc.error);
      return reject("unencodable", "field '" + columns_[i] + "': " + enc.error);
    }
    replaced += enc.unencodable.size() + enc.controls;
    append_escaped_cell(line, enc.bytes, config_.delimiter, config_.formula_guard);
  }
  line += config_.line_ending;
  return std::nullopt;
}

std::string CsvDropSink::encode_preview(const core::TargetRecord& record) const {
  std::string line;
  std::uint64_t replaced = 0;
  if (auto rejected = render_row(record, attachment_file_names(record), line, replaced))
    throw std::runtime_error(rejected->detail);
  std::string out;
  if (config_.encoding == Encoding::utf8_bom) out += kBom;
  return out + header_line_ + line;
}

std::vector<DeliveryOutcome> CsvDropSink::outcomes(const file_drop::BatchFiles& files,
                                                   const std::vector<file_drop::DropItem>& items) const {
  std::vector<DeliveryOutcome> out;
  out.reserve(items.size());
  std::size_t row = 0;
  for (const auto& item : items) {
    if (item.reject) {
      out.push_back(*item.reject);
    } else {
      out.push_back(DeliveryOutcome::ok(files.names.front() + "#" + std::to_string(++row)));
    }
  }
  return out;
}

std::vector<DeliveryOutcome> CsvDropSink::publish(const core::DeliveryBatch& batch, const file_drop::BatchFiles& files,
                                                  std::vector<file_drop::DropItem>& items,
                                                  const std::vector<Row>& rows) {
  drop_->publish(files, items, {}, [&] {
    drop_->publish_document(files, 0, [&](file_drop::DocumentWriter& out) {
      if (config_.encoding == Encoding::utf8_bom) out.write(kBom);
      out.write(header_line_);
      for (std::size_t i = 0; i < items.size(); ++i)
        if (!items[i].reject) out.write(rows[i].line);
    });
  });
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    if (item.reject) {
      spdlog::warn("csv_drop[{}]: batch {} outbox item {} {}: {}", config_.name, batch.key, item.item->outbox_id,
                   item.reject->status == DeliveryStatus::retry ? "left for a retry" : "rejected",
                   item.reject->reason_code);
    } else {
      ++accepted;
      replaced_ += rows[i].replaced;
    }
  }
  if (accepted == 0) {
    spdlog::warn("csv_drop[{}]: batch {}: no item accepted, no file written", config_.name, batch.key);
    return outcomes(files, items);
  }
  spdlog::info("csv_drop[{}]: published {} ({} rows, {} not accepted)", config_.name, files.names.front(), accepted,
               items.size() - accepted);
  return outcomes(files, items);
}

std::vector<DeliveryOutcome> CsvDropSink::redeliver(const core::DeliveryBatch& batch,
                                                    const file_drop::BatchFiles& files,
                                                    std::vector<file_drop::DropItem>& items,
                                                    const std::vector<Row>& rows) {
  // Outcomes recomputed without copying: the file's rows say which items it
  // holds when an attachment copy is not in the published folder.
  for (auto& item : items) item.published = true;
  drop_->remove_temp_files(files);
  std::optional<std::string> published;  // the CSV's bytes, read once when needed
  drop_->recheck_published(files, items, [&](const file_drop::DropItem& item) {
    if (!published) published = read_whole_file(files.file(0));
    return contains_row(*published, rows[static_cast<std::size_t>(&item - items.data())].line);
  });
  drop_->write_missing_triggers(files);
  spdlog::info("csv_drop[{}]: batch {}: {} was already published; outcomes recomputed, file left as is",
               config_.name, batch.key, files.names.front());
  return outcomes(files, items);
}

std::vector<DeliveryOutcome> CsvDropSink::deliver(const core::DeliveryBatch& batch) {
  if (batch.items.empty()) return {};
  file_drop::BatchFiles files = drop_->files(batch.key, {file_name(batch.key)});
  files.still_held = batch.still_held;
  try {
    std::vector<file_drop::DropItem> items = drop_->items(batch);
    std::vector<Row> rows(items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
      items[i].reject = render_row(items[i].item->record, items[i].attachment_names, rows[i].line, rows[i].replaced);
    drop_->ensure_directory();
    if (files.exists(0)) return redeliver(batch, files, items, rows);
    return publish(batch, files, items, rows);
  } catch (const std::exception& e) {
    // Messages name operations and our own paths, never record contents.
    spdlog::error("csv_drop[{}]: batch {} not delivered: {}", config_.name, batch.key, e.what());
    return std::vector<DeliveryOutcome>(
        batch.items.size(), DeliveryOutcome::fail(DeliveryStatus::retry, "io_error", e.what()));
  }
}

}  // namespace reportbridge::csv_drop
