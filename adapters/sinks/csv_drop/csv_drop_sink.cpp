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

#include "adapters/sinks/csv_drop/attachment_copy.hpp"
#include "adapters/sinks/csv_drop/durable_file.hpp"

namespace reportbridge::csv_drop {

namespace fs = std::filesystem;
using core::DeliveryOutcome;
using core::DeliveryStatus;

struct CsvDropSink::ItemPlan {
  const core::DeliveryItem* item = nullptr;
  std::vector<std::string> attachment_names;
  std::string line;
  std::uint64_t replaced = 0;
  std::optional<DeliveryOutcome> reject;
};

struct CsvDropSink::BatchPaths {
  std::string csv_name;
  fs::path csv, csv_tmp, done, done_tmp, attachments, attachments_tmp;
};

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
    : config_(std::move(config)), columns_(std::move(columns)), locator_(std::move(locator)) {
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
  prefix_ = config_.file_prefix.empty() ? config_.name : config_.file_prefix;
  if (safe_file_component(prefix_) != prefix_)
    throw invalid("file_prefix '" + prefix_ + "' must use only [A-Za-z0-9._-] and not start with '.'");
  if (config_.copy_attachments && !locator_)
    throw invalid("copy_attachments needs an attachment locator");
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

std::string CsvDropSink::file_name(std::string_view batch_key) const {
  return prefix_ + "-" + safe_file_component(batch_key) + ".csv";
}

std::vector<std::string> CsvDropSink::attachment_file_names(const core::TargetRecord& record) const {
  std::vector<std::string> names;
  if (!config_.copy_attachments) return names;
  const std::string stem =
      safe_file_component(record.submission_id) + "_v" + std::to_string(record.version) + "_";
  for (std::size_t n = 0; n < record.attachments.size(); ++n)
    names.push_back(stem + std::to_string(n + 1) + "." +
                    extension_for_media_type(record.attachments[n].media_type));
  return names;
}

CsvDropSink::BatchPaths CsvDropSink::paths_for(std::string_view batch_key) const {
  BatchPaths p;
  const std::string stem = prefix_ + "-" + safe_file_component(batch_key);
  const fs::path& dir = config_.directory;
  p.csv_name = stem + ".csv";
  p.csv = dir / p.csv_name;
  p.csv_tmp = dir / ("." + p.csv_name + ".tmp");
  p.done = dir / (p.csv_name + ".done");
  p.done_tmp = dir / ("." + p.csv_name + ".done.tmp");
  p.attachments = dir / (stem + ".attachments");
  p.attachments_tmp = dir / ("." + stem + ".attachments.tmp");
  return p;
}

std::optional<DeliveryOutcome> CsvDropSink::render_row(const core::TargetRecord& record,
                                                       const std::vector<std::string>& attachment_names,
                                                       std::string& line,
                                                       std::uint64_t& replaced) const {
  line.clear();
  replaced = 0;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i) line.push_back(config_.delimiter);
    std::string value;
    if (attachment_column_ && *attachment_column_ == i) {
      value = join(attachment_names, ';');
    } else if (const auto* v = record.find(columns_[i]); v && v->has_value()) {
      value = **v;
    }
    EncodeResult enc = encode_text(value, config_.encoding, config_.unencodable);
    if (!enc.ok) {
      if (enc.unencodable.empty())
        return reject("invalid_utf8", "field '" + columns_[i] + "': " + enc.error);
      return reject("unencodable", "field '" + columns_[i] + "': " + enc.error);
    }
    replaced += enc.unencodable.size() + enc.controls;
    line += escape_cell(enc.bytes, config_.delimiter, config_.formula_guard);
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

std::vector<CsvDropSink::ItemPlan> CsvDropSink::plan_items(const core::DeliveryBatch& batch) const {
  std::vector<ItemPlan> plans(batch.items.size());
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    ItemPlan& plan = plans[i];
    plan.item = &batch.items[i];
    plan.attachment_names = attachment_file_names(plan.item->record);
    plan.reject = render_row(plan.item->record, plan.attachment_names, plan.line, plan.replaced);
  }
  return plans;
}

std::optional<DeliveryOutcome> CsvDropSink::transfer(const core::AttachmentRef& attachment,
                                                     std::size_t n, std::size_t count,
                                                     const fs::path* destination) const {
  return transfer_attachment(locator_, {&attachment, n, count, config_.max_attachment_bytes, destination});
}

void CsvDropSink::copy_attachments(const BatchPaths& paths, std::vector<ItemPlan>& plans) const {
  std::set<std::string> copied;  // names already in the temp folder for an accepted item
  for (ItemPlan& plan : plans) {
    if (plan.reject || plan.attachment_names.empty()) continue;
    const auto& attachments = plan.item->record.attachments;
    std::vector<std::string> mine;
    for (std::size_t n = 0; n < attachments.size(); ++n) {
      const std::string& name = plan.attachment_names[n];
      if (copied.count(name)) continue;  // same submission version twice in one batch
      if (!fs::exists(paths.attachments_tmp)) fs::create_directory(paths.attachments_tmp);
      const fs::path destination = paths.attachments_tmp / name;
      plan.reject = transfer(attachments[n], n + 1, attachments.size(), &destination);
      if (plan.reject) break;
      mine.push_back(name);
      copied.insert(name);
    }
    if (plan.reject) {
      for (const auto& name : mine) {
        fs::remove(paths.attachments_tmp / name);
        copied.erase(name);
      }
    }
  }
}

void CsvDropSink::write_csv(const BatchPaths& paths, const std::vector<ItemPlan>& plans) const {
  FileHandle file = create_file(paths.csv_tmp);
  std::string buffer;
  if (config_.encoding == Encoding::utf8_bom) buffer += kBom;
  buffer += header_line_;
  for (const ItemPlan& plan : plans) {
    if (plan.reject) continue;
    buffer += plan.line;
    if (buffer.size() >= kCopyChunkBytes) {
      write_all(file, buffer, paths.csv_tmp);
      buffer.clear();
    }
  }
  write_all(file, buffer, paths.csv_tmp);
  sync_and_close(file, paths.csv_tmp);
}

std::vector<DeliveryOutcome> CsvDropSink::outcomes(const BatchPaths& paths,
                                                   const std::vector<ItemPlan>& plans) const {
  std::vector<DeliveryOutcome> out;
  out.reserve(plans.size());
  std::size_t row = 0;
  for (const ItemPlan& plan : plans) {
    if (plan.reject) {
      out.push_back(*plan.reject);
    } else {
      out.push_back(DeliveryOutcome::ok(paths.csv_name + "#" + std::to_string(++row)));
    }
  }
  return out;
}

std::vector<DeliveryOutcome> CsvDropSink::publish(const core::DeliveryBatch& batch,
                                                  const BatchPaths& paths,
                                                  std::vector<ItemPlan>& plans) {
  // Leftovers of a crashed attempt: the CSV was never published, so nothing refers to them.
  fs::remove_all(paths.csv_tmp);
  fs::remove_all(paths.done_tmp);
  fs::remove_all(paths.attachments_tmp);
  fs::remove_all(paths.attachments);

  bool attachments_published = false;
  bool csv_published = false;
  try {
    copy_attachments(paths, plans);
    const bool any_accepted =
        std::any_of(plans.begin(), plans.end(), [](const ItemPlan& p) { return !p.reject; });
    if (!any_accepted) {
      fs::remove_all(paths.attachments_tmp);
    } else {
      if (fs::exists(paths.attachments_tmp) && fs::is_empty(paths.attachments_tmp))
        fs::remove(paths.attachments_tmp);  // every attachment was rejected
      if (fs::exists(paths.attachments_tmp)) {
        fsync_directory(paths.attachments_tmp);
        rename_file(paths.attachments_tmp, paths.attachments);
        attachments_published = true;
        fsync_directory(config_.directory);
      }
      write_csv(paths, plans);
      rename_file(paths.csv_tmp, paths.csv);
      csv_published = true;
      fsync_directory(config_.directory);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove(paths.csv_tmp, ec);
    fs::remove_all(paths.attachments_tmp, ec);
    // Once the CSV is renamed it refers to its attachments: leave both (the
    // retry finds the CSV and takes the idempotent path).
    if (attachments_published && !csv_published) fs::remove_all(paths.attachments, ec);
    throw;
  }

  std::size_t accepted = 0;
  for (const ItemPlan& plan : plans) {
    if (plan.reject) {
      spdlog::warn("csv_drop[{}]: batch {} outbox item {} {}: {}", config_.name, batch.key,
                   plan.item->outbox_id,
                   plan.reject->status == DeliveryStatus::retry ? "left for a retry" : "rejected",
                   plan.reject->reason_code);
    } else {
      ++accepted;
      replaced_ += plan.replaced;
    }
  }
  if (accepted == 0) {
    spdlog::warn("csv_drop[{}]: batch {}: no item accepted, no file written", config_.name,
                 batch.key);
    return outcomes(paths, plans);
  }
  if (config_.trigger_file) publish_file(paths.done_tmp, paths.done, {});
  spdlog::info("csv_drop[{}]: published {} ({} rows, {} not accepted)", config_.name, paths.csv_name,
               accepted, plans.size() - accepted);
  return outcomes(paths, plans);
}

std::vector<DeliveryOutcome> CsvDropSink::redeliver(const core::DeliveryBatch& batch,
                                                    const BatchPaths& paths,
                                                    std::vector<ItemPlan>& plans) {
  // Recompute outcomes without copying. An item whose attachments are all in
  // the published folder was verified and written. When a file is missing,
  // the item's row decides: present -> delivered (the consumer may have taken
  // the file); absent -> the item was left out (its attachment failed), so it
  // gets that failure again, or retry if the attachment is fine by now.
  std::set<std::string> verified;
  std::optional<std::string> published;  // the CSV's bytes, read once when needed
  for (ItemPlan& plan : plans) {
    if (plan.reject || plan.attachment_names.empty()) continue;
    const bool complete = std::all_of(
        plan.attachment_names.begin(), plan.attachment_names.end(), [&](const std::string& name) {
          return verified.count(name) || fs::is_regular_file(fs::symlink_status(paths.attachments / name));
        });
    if (!complete) {
      if (!published) published = read_whole_file(paths.csv);
      if (!contains_row(*published, plan.line)) {
        const auto& attachments = plan.item->record.attachments;
        for (std::size_t n = 0; n < attachments.size() && !plan.reject; ++n)
          plan.reject = transfer(attachments[n], n + 1, attachments.size(), nullptr);
        if (!plan.reject)
          plan.reject = DeliveryOutcome::fail(DeliveryStatus::retry, "attachment_unavailable",
                                              "left out of " + paths.csv_name +
                                                  " while an attachment was unavailable; sent in a later batch");
      }
    }
    if (!plan.reject) verified.insert(plan.attachment_names.begin(), plan.attachment_names.end());
  }
  fs::remove_all(paths.csv_tmp);
  fs::remove_all(paths.attachments_tmp);
  if (config_.trigger_file && !fs::exists(fs::symlink_status(paths.done)))
    publish_file(paths.done_tmp, paths.done, {});
  spdlog::info("csv_drop[{}]: batch {}: {} was already published; outcomes recomputed, file left as is",
               config_.name, batch.key, paths.csv_name);
  return outcomes(paths, plans);
}

std::vector<DeliveryOutcome> CsvDropSink::deliver(const core::DeliveryBatch& batch) {
  if (batch.items.empty()) return {};
  const BatchPaths paths = paths_for(batch.key);
  try {
    std::vector<ItemPlan> plans = plan_items(batch);
    if (fs::create_directories(config_.directory) && config_.directory.has_parent_path())
      fsync_directory(config_.directory.parent_path());  // make the new folder itself durable
    if (fs::is_regular_file(fs::symlink_status(paths.csv))) return redeliver(batch, paths, plans);
    return publish(batch, paths, plans);
  } catch (const std::exception& e) {
    // Messages name operations and our own paths, never record contents.
    spdlog::error("csv_drop[{}]: batch {} not delivered: {}", config_.name, batch.key, e.what());
    return std::vector<DeliveryOutcome>(
        batch.items.size(), DeliveryOutcome::fail(DeliveryStatus::retry, "io_error", e.what()));
  }
}

}  // namespace reportbridge::csv_drop
