#include "bridge/file_drop/file_drop.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <system_error>

#include "bridge/core/progress.hpp"
#include "bridge/file_drop/attachment_copy.hpp"
#include "bridge/file_drop/names.hpp"

namespace reportbridge::file_drop {

namespace fs = std::filesystem;
using core::DeliveryOutcome;
using core::DeliveryStatus;

namespace {

bool exists_as_file(const fs::path& p) { return fs::is_regular_file(fs::symlink_status(p)); }

bool accepted(const DropItem& item) { return !item.reject; }

}  // namespace

bool BatchFiles::exists(std::size_t i) const { return exists_as_file(file(i)); }

void DocumentWriter::write(std::string_view bytes) {
  buffer_.append(bytes);
  if (buffer_.size() >= kCopyChunkBytes) {
    write_all(file_, buffer_, path_);
    buffer_.clear();
    core::progress();
  }
}

void DocumentWriter::finish() {
  write_all(file_, buffer_, path_);
  buffer_.clear();
}

FileDrop::FileDrop(Settings settings, core::AttachmentLocator locator, std::string_view kind)
    : settings_(std::move(settings)), locator_(std::move(locator)) {
  const auto invalid = [&](const std::string& what) {
    return std::invalid_argument(std::string(kind) + " '" + settings_.name + "': " + what);
  };
  if (settings_.directory.empty()) throw invalid("directory is empty");
  if (safe_file_component(settings_.prefix) != settings_.prefix)
    throw invalid("file_prefix '" + settings_.prefix + "' must use only [A-Za-z0-9._-] and not start with '.'");
  if (settings_.copy_attachments && !locator_) throw invalid("copy_attachments needs an attachment locator");
}

std::string FileDrop::stem(std::string_view batch_key) const {
  return settings_.prefix + "-" + safe_file_component(batch_key);
}

namespace {
void check_still_held(const BatchFiles& files) {
  if (files.still_held && !files.still_held())
    throw std::runtime_error("not published: this instance no longer holds the batch's lease");
}
}  // namespace

BatchFiles FileDrop::files(std::string_view batch_key, std::vector<std::string> document_names) const {
  BatchFiles f;
  f.directory = settings_.directory;
  f.names = std::move(document_names);
  const std::string s = stem(batch_key);
  f.attachments = f.directory / (s + ".attachments");
  f.attachments_tmp = f.directory / ("." + s + ".attachments.tmp");
  return f;
}

std::vector<std::string> FileDrop::attachment_names(const core::TargetRecord& record) const {
  std::vector<std::string> names;
  if (!settings_.copy_attachments || record.attachments.empty()) return names;
  const std::string s = safe_file_component(record.submission_id) + "_v" + std::to_string(record.version) + "_";
  for (std::size_t n = 0; n < record.attachments.size(); ++n)
    names.push_back(s + std::to_string(n + 1) + "." + extension_for_media_type(record.attachments[n].media_type));
  return names;
}

std::vector<DropItem> FileDrop::items(const core::DeliveryBatch& batch) const {
  std::vector<DropItem> items(batch.items.size());
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    items[i].item = &batch.items[i];
    items[i].attachment_names = attachment_names(batch.items[i].record);
  }
  return items;
}

void FileDrop::ensure_directory() const {
  const fs::path& dir = settings_.directory;
  if (fs::create_directories(dir) && dir.has_parent_path()) fsync_directory(dir.parent_path());
}

std::optional<DeliveryOutcome> FileDrop::transfer(const core::AttachmentRef& attachment, std::size_t n,
                                                  std::size_t count, const fs::path* destination) const {
  return transfer_attachment(locator_, {&attachment, n, count, settings_.max_attachment_bytes, destination});
}

void FileDrop::copy_attachments(const fs::path& folder, std::vector<DropItem>& items, bool only_missing) const {
  std::set<std::string> copied;  // names in the folder for an accepted item
  bool staged = false;
  for (DropItem& it : items) {
    if (it.reject || it.published || it.attachment_names.empty()) continue;
    const auto& attachments = it.item->record.attachments;
    std::vector<std::string> mine;
    for (std::size_t n = 0; n < attachments.size(); ++n) {
      const std::string& name = it.attachment_names[n];
      if (copied.count(name)) continue;  // the same submission version twice in one batch
      if (only_missing && exists_as_file(folder / name)) {
        copied.insert(name);  // verified before it was published
        continue;
      }
      if (!fs::exists(folder)) fs::create_directory(folder);
      const fs::path destination = only_missing ? folder / ("." + name + ".tmp") : folder / name;
      it.reject = transfer(attachments[n], n + 1, attachments.size(), &destination);
      if (it.reject) break;
      if (only_missing) {
        rename_file(destination, folder / name);
        staged = true;
      }
      mine.push_back(name);
      copied.insert(name);
    }
    if (it.reject) {
      for (const auto& name : mine) {
        fs::remove(folder / name);
        copied.erase(name);
      }
    }
  }
  if (staged) fsync_directory(folder);
}

void FileDrop::publish(const BatchFiles& files, std::vector<DropItem>& items,
                       const std::function<void()>& after_attachments,
                       const std::function<void()>& write_documents) const {
  // Leftovers of a crashed attempt: no document was published, so nothing refers to them.
  for (std::size_t i = 0; i < files.names.size(); ++i) {
    fs::remove(files.tmp(i));
    fs::remove(files.done_tmp(i));
  }
  fs::remove_all(files.attachments_tmp);
  fs::remove_all(files.attachments);

  bool attachments_published = false;
  try {
    copy_attachments(files.attachments_tmp, items, false);
    if (after_attachments) after_attachments();
    if (std::none_of(items.begin(), items.end(), accepted)) {
      fs::remove_all(files.attachments_tmp);
      return;
    }
    if (fs::exists(files.attachments_tmp) && fs::is_empty(files.attachments_tmp))
      fs::remove(files.attachments_tmp);  // every attachment was rejected
    if (fs::exists(files.attachments_tmp)) {
      fsync_directory(files.attachments_tmp);
      rename_file(files.attachments_tmp, files.attachments);
      attachments_published = true;
      fsync_directory(files.directory);
    }
    write_documents();
  } catch (...) {
    std::error_code ec;
    for (std::size_t i = 0; i < files.names.size(); ++i) fs::remove(files.tmp(i), ec);
    fs::remove_all(files.attachments_tmp, ec);
    // Once a document is published it refers to the attachments: leave both
    // (the retry takes the redelivery path).
    bool any_document = false;
    for (std::size_t i = 0; i < files.names.size() && !any_document; ++i) any_document = files.exists(i);
    if (attachments_published && !any_document) fs::remove_all(files.attachments, ec);
    throw;
  }
}

void FileDrop::publish_document(const BatchFiles& files, std::size_t i, std::string_view content) const {
  check_still_held(files);
  publish_file(files.tmp(i), files.file(i), content);
  if (settings_.trigger_file && !exists_as_file(files.done(i)))
    publish_file(files.done_tmp(i), files.done(i), {});
}

void FileDrop::publish_document(const BatchFiles& files, std::size_t i,
                                const std::function<void(DocumentWriter&)>& write) const {
  const fs::path temp = files.tmp(i);
  try {
    FileHandle file = create_file(temp);
    DocumentWriter writer(file, temp);
    write(writer);
    writer.finish();
    sync_and_close(file, temp);
    check_still_held(files);
    rename_durably(temp, files.file(i));
  } catch (...) {
    std::error_code ec;
    fs::remove(temp, ec);
    throw;
  }
  if (settings_.trigger_file && !exists_as_file(files.done(i)))
    publish_file(files.done_tmp(i), files.done(i), {});
}

void FileDrop::remove_temp_files(const BatchFiles& files) const {
  for (std::size_t i = 0; i < files.names.size(); ++i) {
    fs::remove(files.tmp(i));
    fs::remove(files.done_tmp(i));
  }
  fs::remove_all(files.attachments_tmp);
}

void FileDrop::recheck_published(const BatchFiles& files, std::vector<DropItem>& items,
                                 const std::function<bool(const DropItem&)>& in_document) const {
  std::set<std::string> verified;
  for (DropItem& it : items) {
    if (it.reject || !it.published || it.attachment_names.empty()) continue;
    const auto& attachments = it.item->record.attachments;
    std::vector<std::size_t> missing;
    for (std::size_t n = 0; n < it.attachment_names.size(); ++n) {
      const std::string& name = it.attachment_names[n];
      if (!verified.count(name) && !exists_as_file(files.attachments / name)) missing.push_back(n);
    }
    // Every accepted item's copies are published before its document: a
    // missing one was taken by the consumer (the record is in the document),
    // or the item was left out because that attachment failed then.
    if (!missing.empty() && !(in_document && in_document(it))) {
      for (std::size_t n : missing) {
        it.reject = transfer(attachments[n], n + 1, attachments.size(), nullptr);
        if (it.reject) break;
      }
      if (!it.reject)
        it.reject = DeliveryOutcome::fail(DeliveryStatus::retry, "attachment_unavailable",
                                          "left out of " + files.names.front() +
                                              " while an attachment was unavailable; sent in a later batch");
    }
    if (!it.reject) verified.insert(it.attachment_names.begin(), it.attachment_names.end());
  }
}

void FileDrop::complete_attachments(const BatchFiles& files, std::vector<DropItem>& items) const {
  const bool missing = std::any_of(items.begin(), items.end(), [](const DropItem& it) {
    return !it.reject && !it.published && !it.attachment_names.empty();
  });
  if (!missing) return;
  const bool created = !fs::exists(files.attachments);
  copy_attachments(files.attachments, items, true);
  if (created && fs::exists(files.attachments)) fsync_directory(files.directory);
}

void FileDrop::write_missing_triggers(const BatchFiles& files) const {
  if (!settings_.trigger_file) return;
  for (std::size_t i = 0; i < files.names.size(); ++i)
    if (files.exists(i) && !exists_as_file(files.done(i)))
      publish_file(files.done_tmp(i), files.done(i), {});
}

}  // namespace reportbridge::file_drop
