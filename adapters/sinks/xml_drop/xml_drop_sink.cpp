#include "adapters/sinks/xml_drop/xml_drop_sink.hpp"

#include <libxml/tree.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "adapters/sinks/csv_drop/attachment_copy.hpp"
#include "adapters/sinks/csv_drop/csv_format.hpp"
#include "adapters/sinks/csv_drop/durable_file.hpp"

namespace reportbridge::xml_drop {

namespace fs = std::filesystem;
using core::DeliveryOutcome;
using core::DeliveryStatus;

struct XmlDropSink::ItemPlan {
  const core::DeliveryItem* item = nullptr;
  std::vector<std::string> attachment_names;
  xml::DocPtr doc;
  std::optional<DeliveryOutcome> reject;
  bool published = false;  // per_submission: its document already exists
};

// Documents: one (batch mode) or one per item (per_submission).
struct XmlDropSink::BatchPaths {
  fs::path directory;
  std::vector<std::string> names;
  fs::path attachments, attachments_tmp;

  fs::path file(std::size_t i) const { return directory / names[i]; }
  fs::path tmp(std::size_t i) const { return directory / ("." + names[i] + ".tmp"); }
  fs::path done(std::size_t i) const { return directory / (names[i] + ".done"); }
  fs::path done_tmp(std::size_t i) const { return directory / ("." + names[i] + ".done.tmp"); }
};

namespace {

DeliveryOutcome reject(std::string code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, std::move(code), std::move(detail));
}

bool exists_as_file(const fs::path& p) { return fs::is_regular_file(fs::symlink_status(p)); }

bool same_ns(const xmlNs* a, const xmlNs* b) {
  const auto eq = [](const xmlChar* x, const xmlChar* y) {
    return (!x && !y) || (x && y && xmlStrEqual(x, y));
  };
  return a && b && eq(a->href, b->href) && eq(a->prefix, b->prefix);
}

void rebind(xmlNode* element, const xmlNs* from, xmlNs* to) {
  if (element->ns == from) element->ns = to;
  for (xmlAttr* a = element->properties; a; a = a->next)
    if (a->ns == from) a->ns = to;
  for (xmlNode* c = element->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) rebind(c, from, to);
}

// A record copied under the batch root repeats the root's namespace
// declaration: bind its elements to the root's and drop the repeat.
void drop_repeated_ns(xmlNode* record, xmlNode* wrapper) {
  xmlNs* own = record->nsDef;
  if (!own || own->next || !same_ns(own, wrapper->nsDef)) return;
  rebind(record, own, wrapper->nsDef);
  record->nsDef = nullptr;
  xmlFreeNsList(own);
}

}  // namespace

XmlDropSink::XmlDropSink(XmlDropConfig config, core::AttachmentLocator locator)
    : config_(std::move(config)), locator_(std::move(locator)) {
  const auto invalid = [this](const std::string& what) {
    return std::invalid_argument("xml_drop target '" + config_.name + "': " + what);
  };
  if (config_.name.empty()) throw invalid("name is empty");
  if (config_.directory.empty()) throw invalid("directory is empty");
  if (config_.xsd.empty()) throw invalid("xsd is empty");
  if (config_.layout.root.empty()) throw invalid("root element is empty");
  if (config_.max_items == 0) throw invalid("max_items must be at least 1");
  if (config_.max_age.count() < 0) throw invalid("max_age must not be negative");
  prefix_ = config_.file_prefix.empty() ? config_.name : config_.file_prefix;
  if (csv_drop::safe_file_component(prefix_) != prefix_)
    throw invalid("file_prefix '" + prefix_ + "' must use only [A-Za-z0-9._-] and not start with '.'");
  if (config_.copy_attachments && !locator_) throw invalid("copy_attachments needs an attachment locator");

  auto set = xml::SchemaSet::load(config_.xsd);
  validator_ = std::make_unique<xml::XsdValidator>(set);
  try {
    renderer_ = std::make_unique<xml::XmlRenderer>(set, config_.layout);
  } catch (const std::invalid_argument& e) {
    throw invalid(e.what());
  }
  if (config_.mode == Mode::batch) {
    if (config_.batch_root.empty()) throw invalid("batch mode needs batch_root");
    std::string why;
    const xml::ElementDecl* wrapper = xml::find_global_element(*set, config_.batch_root, config_.layout.namespaces,
                                                              config_.layout.namespace_uri, &why);
    if (!wrapper) throw invalid("batch_root '" + config_.batch_root + "' is not a global element of the schema (" + why + ")");
    const xml::ElementDecl* record_root = &renderer_->root();
    const bool holds = std::any_of(wrapper->type->slots.begin(), wrapper->type->slots.end(), [&](const xml::ContentSlot& slot) {
      if (!slot.element || !slot.repeated()) return false;
      const auto subs = slot.element->substitutes();
      return std::find(subs.begin(), subs.end(), record_root) != subs.end();
    });
    if (!holds)
      throw invalid("batch_root '" + config_.batch_root + "' does not hold repeated '" + config_.layout.root + "'");
    xml::XmlLayout layout;
    layout.root = config_.batch_root;
    layout.namespace_uri = config_.layout.namespace_uri;
    layout.prefix = config_.layout.prefix;
    layout.namespaces = config_.layout.namespaces;
    batch_renderer_ = std::make_unique<xml::XmlRenderer>(set, std::move(layout));
  }
  fill_related_reference_ = !config_.related_reference_field.empty() &&
                            renderer_->unknown_fields({config_.related_reference_field}).empty();
}

XmlDropSink::~XmlDropSink() = default;

core::BatchPolicy XmlDropSink::batch_policy() const {
  return core::BatchPolicy{config_.max_items, config_.max_age};
}

std::string XmlDropSink::file_name(std::string_view batch_key, std::size_t index) const {
  const std::string stem = prefix_ + "-" + csv_drop::safe_file_component(batch_key);
  if (config_.mode == Mode::batch) return stem + ".xml";
  return stem + "-" + std::to_string(index + 1) + ".xml";
}

std::vector<std::string> XmlDropSink::attachment_file_names(const core::TargetRecord& record) const {
  std::vector<std::string> names;
  if (!config_.copy_attachments) return names;
  const std::string stem =
      csv_drop::safe_file_component(record.submission_id) + "_v" + std::to_string(record.version) + "_";
  for (std::size_t n = 0; n < record.attachments.size(); ++n)
    names.push_back(stem + std::to_string(n + 1) + "." +
                    csv_drop::extension_for_media_type(record.attachments[n].media_type));
  return names;
}

XmlDropSink::BatchPaths XmlDropSink::paths_for(const core::DeliveryBatch& batch) const {
  BatchPaths p;
  p.directory = config_.directory;
  const std::string stem = prefix_ + "-" + csv_drop::safe_file_component(batch.key);
  const std::size_t documents = config_.mode == Mode::batch ? 1 : batch.items.size();
  for (std::size_t i = 0; i < documents; ++i) p.names.push_back(file_name(batch.key, i));
  p.attachments = p.directory / (stem + ".attachments");
  p.attachments_tmp = p.directory / ("." + stem + ".attachments.tmp");
  return p;
}

std::string XmlDropSink::serialize(const xmlDoc& doc) const {
  return xml::to_string(doc, config_.pretty ? xml::Format::pretty : xml::Format::compact, true);
}

void XmlDropSink::render(const core::DeliveryItem& item, ItemPlan& plan) const {
  const core::TargetRecord* record = &item.record;
  core::TargetRecord updated;
  if (fill_related_reference_ && !item.prior_reference.empty()) {
    const auto* current = record->find(config_.related_reference_field);
    if (!current || !current->has_value()) {
      updated = item.record;
      bool set = false;
      for (auto& f : updated.fields)
        if (f.name == config_.related_reference_field) f.value = item.prior_reference, set = true;
      if (!set) updated.fields.push_back({config_.related_reference_field, item.prior_reference});
      record = &updated;
    }
  }
  xml::RenderExtras extras;
  extras.stored_names = plan.attachment_names;
  xml::RenderResult rendered = renderer_->render(*record, extras);
  if (!rendered) {
    plan.reject = reject(rendered.error->code, rendered.error->detail);
    return;
  }
  if (rendered.replaced_characters)
    spdlog::info("xml_drop[{}]: outbox item {}: {} character(s) XML cannot hold replaced by U+FFFD", config_.name,
                 item.outbox_id, rendered.replaced_characters);
  const auto errors = validator_->validate(*rendered.doc);
  if (!errors.empty()) {
    plan.reject = reject("schema_invalid", xml::join_errors(xml::redact_values(errors)));
    return;
  }
  plan.doc = std::move(rendered.doc);
}

std::string XmlDropSink::encode_preview(const core::TargetRecord& record) const {
  core::DeliveryItem item;
  item.record = record;
  ItemPlan plan;
  plan.attachment_names = attachment_file_names(record);
  xml::RenderExtras extras;
  extras.stored_names = plan.attachment_names;
  xml::RenderResult rendered = renderer_->render(record, extras);
  if (!rendered) throw std::runtime_error(rendered.error->code + ": " + rendered.error->detail);
  const auto errors = validator_->validate(*rendered.doc);
  if (!errors.empty()) throw std::runtime_error("schema_invalid: " + xml::join_errors(errors));
  return serialize(*rendered.doc);
}

std::vector<XmlDropSink::ItemPlan> XmlDropSink::plan_items(const core::DeliveryBatch& batch) const {
  std::vector<ItemPlan> plans(batch.items.size());
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    plans[i].item = &batch.items[i];
    plans[i].attachment_names = attachment_file_names(batch.items[i].record);
    render(batch.items[i], plans[i]);
  }
  return plans;
}

std::optional<DeliveryOutcome> XmlDropSink::transfer(const core::AttachmentRef& attachment, std::size_t n,
                                                     std::size_t count, const fs::path* destination) const {
  return csv_drop::transfer_attachment(locator_,
                                       {&attachment, n, count, config_.max_attachment_bytes, destination});
}

// Copies the attachments of accepted, unpublished items into `folder`. With
// `only_missing` (redelivery into the published folder) files already there
// are kept and new ones are staged under a dot-name and renamed.
void XmlDropSink::copy_attachments(const fs::path& folder, std::vector<ItemPlan>& plans,
                                   bool only_missing) const {
  std::set<std::string> copied;  // names in the folder for an accepted item
  bool staged = false;
  for (ItemPlan& plan : plans) {
    if (plan.reject || plan.published || plan.attachment_names.empty()) continue;
    const auto& attachments = plan.item->record.attachments;
    std::vector<std::string> mine;
    for (std::size_t n = 0; n < attachments.size(); ++n) {
      const std::string& name = plan.attachment_names[n];
      if (copied.count(name)) continue;  // same submission version twice in one batch
      if (only_missing && exists_as_file(folder / name)) {
        copied.insert(name);  // verified before it was published
        continue;
      }
      if (!fs::exists(folder)) fs::create_directory(folder);
      const fs::path destination = only_missing ? folder / ("." + name + ".tmp") : folder / name;
      plan.reject = transfer(attachments[n], n + 1, attachments.size(), &destination);
      if (plan.reject) break;
      if (only_missing) {
        csv_drop::rename_file(destination, folder / name);
        staged = true;
      }
      mine.push_back(name);
      copied.insert(name);
    }
    if (plan.reject) {
      for (const auto& name : mine) {
        fs::remove(folder / name);
        copied.erase(name);
      }
    }
  }
  if (staged) csv_drop::fsync_directory(folder);
}

// Redelivery: items whose document exists keep their outcome (batch mode:
// recomputed like csv_drop); unpublished items get missing attachment files.
void XmlDropSink::verify_published_attachments(const BatchPaths& paths, std::vector<ItemPlan>& plans) const {
  std::set<std::string> verified;
  for (ItemPlan& plan : plans) {
    if (plan.reject || !plan.published || plan.attachment_names.empty()) continue;
    if (config_.mode == Mode::per_submission) continue;  // its document is there: delivered
    const auto& attachments = plan.item->record.attachments;
    bool missing = false;
    for (std::size_t n = 0; n < attachments.size() && !plan.reject; ++n) {
      const std::string& name = plan.attachment_names[n];
      if (verified.count(name) || exists_as_file(paths.attachments / name)) continue;
      missing = true;
      plan.reject = transfer(attachments[n], n + 1, attachments.size(), nullptr);
    }
    // Every accepted item's files are published before the document: a
    // missing one means the item was left out (its attachment failed then).
    if (missing && !plan.reject)
      plan.reject = DeliveryOutcome::fail(DeliveryStatus::retry, "attachment_unavailable",
                                          "left out of " + paths.names[0] +
                                              " while an attachment was unavailable; sent in a later batch");
    if (!plan.reject) verified.insert(plan.attachment_names.begin(), plan.attachment_names.end());
  }
  const bool missing = std::any_of(plans.begin(), plans.end(), [](const ItemPlan& p) {
    return !p.reject && !p.published && !p.attachment_names.empty();
  });
  if (!missing) return;
  const bool created = !fs::exists(paths.attachments);
  copy_attachments(paths.attachments, plans, true);
  if (created && fs::exists(paths.attachments)) csv_drop::fsync_directory(paths.directory);
}

xml::DocPtr XmlDropSink::batch_document(const core::DeliveryBatch& batch, std::vector<ItemPlan>& plans) const {
  const auto accepted = static_cast<std::size_t>(
      std::count_if(plans.begin(), plans.end(), [](const ItemPlan& p) { return !p.reject; }));
  core::TargetRecord wrapper;
  const auto& allowed = batch_renderer_->allowed_field_paths();
  const auto allows = [&](const char* path) { return std::find(allowed.begin(), allowed.end(), path) != allowed.end(); };
  if (allows("@batchKey")) wrapper.fields.push_back({"@batchKey", batch.key});
  if (allows("@count")) wrapper.fields.push_back({"@count", std::to_string(accepted)});
  xml::RenderResult rendered = batch_renderer_->render(wrapper);
  if (!rendered) throw std::logic_error("batch root: " + rendered.error->detail);
  xmlNode* root = xmlDocGetRootElement(rendered.doc.get());
  for (const ItemPlan& plan : plans) {
    if (plan.reject) continue;
    xmlNode* copy = xmlDocCopyNode(xmlDocGetRootElement(plan.doc.get()), rendered.doc.get(), 1);
    if (!copy) throw std::bad_alloc();
    xmlAddChild(root, copy);
    drop_repeated_ns(copy, root);
  }
  xml::assign_pretty_line_numbers(*rendered.doc);
  const auto errors = validator_->validate(*rendered.doc);
  if (errors.empty()) return std::move(rendered.doc);
  const std::string detail = "batch document: " + xml::join_errors(xml::redact_values(errors));
  for (ItemPlan& plan : plans)
    if (!plan.reject) plan.reject = reject("schema_invalid", detail);
  return nullptr;
}

void XmlDropSink::publish_documents(const BatchPaths& paths, const std::vector<ItemPlan>& plans,
                                    const xmlDoc* batch_doc, bool& any_published) const {
  const auto publish_one = [&](std::size_t i, const xmlDoc& doc) {
    csv_drop::publish_file(paths.tmp(i), paths.file(i), serialize(doc));
    any_published = true;
    if (config_.trigger_file && !exists_as_file(paths.done(i)))
      csv_drop::publish_file(paths.done_tmp(i), paths.done(i), {});
  };
  if (config_.mode == Mode::batch) {
    if (batch_doc) publish_one(0, *batch_doc);
    return;
  }
  for (std::size_t i = 0; i < plans.size(); ++i)
    if (!plans[i].reject && !plans[i].published) publish_one(i, *plans[i].doc);
}

std::vector<DeliveryOutcome> XmlDropSink::outcomes(const BatchPaths& paths,
                                                   const std::vector<ItemPlan>& plans) const {
  std::vector<DeliveryOutcome> out;
  out.reserve(plans.size());
  std::size_t row = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].reject) out.push_back(*plans[i].reject);
    else if (config_.mode == Mode::batch) out.push_back(DeliveryOutcome::ok(paths.names[0] + "#" + std::to_string(++row)));
    else out.push_back(DeliveryOutcome::ok(paths.names[i]));
  }
  return out;
}

void XmlDropSink::log_rejections(const core::DeliveryBatch& batch, const std::vector<ItemPlan>& plans) const {
  for (const ItemPlan& plan : plans)
    if (plan.reject)
      spdlog::warn("xml_drop[{}]: batch {} outbox item {} {}: {}", config_.name, batch.key,
                   plan.item->outbox_id,
                   plan.reject->status == DeliveryStatus::retry ? "left for a retry" : "rejected",
                   plan.reject->reason_code);
}

std::vector<DeliveryOutcome> XmlDropSink::publish(const core::DeliveryBatch& batch, const BatchPaths& paths,
                                                  std::vector<ItemPlan>& plans) {
  // Leftovers of a crashed attempt: no document was published, so nothing refers to them.
  for (std::size_t i = 0; i < paths.names.size(); ++i) {
    fs::remove(paths.tmp(i));
    fs::remove(paths.done_tmp(i));
  }
  fs::remove_all(paths.attachments_tmp);
  fs::remove_all(paths.attachments);

  bool attachments_published = false;
  bool any_published = false;
  try {
    copy_attachments(paths.attachments_tmp, plans, false);
    xml::DocPtr batch_doc;
    const auto any_accepted = [&] {
      return std::any_of(plans.begin(), plans.end(), [](const ItemPlan& p) { return !p.reject; });
    };
    if (config_.mode == Mode::batch && any_accepted()) batch_doc = batch_document(batch, plans);
    if (!any_accepted()) {
      fs::remove_all(paths.attachments_tmp);
    } else {
      if (fs::exists(paths.attachments_tmp) && fs::is_empty(paths.attachments_tmp))
        fs::remove(paths.attachments_tmp);  // every attachment was rejected
      if (fs::exists(paths.attachments_tmp)) {
        csv_drop::fsync_directory(paths.attachments_tmp);
        csv_drop::rename_file(paths.attachments_tmp, paths.attachments);
        attachments_published = true;
        csv_drop::fsync_directory(paths.directory);
      }
      publish_documents(paths, plans, batch_doc.get(), any_published);
    }
  } catch (...) {
    std::error_code ec;
    for (std::size_t i = 0; i < paths.names.size(); ++i) fs::remove(paths.tmp(i), ec);
    fs::remove_all(paths.attachments_tmp, ec);
    // Once a document is published it refers to the attachments: leave both
    // (the retry takes the redelivery path).
    if (attachments_published && !any_published) fs::remove_all(paths.attachments, ec);
    throw;
  }
  log_rejections(batch, plans);
  const auto accepted = std::count_if(plans.begin(), plans.end(), [](const ItemPlan& p) { return !p.reject; });
  if (accepted == 0)
    spdlog::warn("xml_drop[{}]: batch {}: no item accepted, nothing written", config_.name, batch.key);
  else
    spdlog::info("xml_drop[{}]: batch {} published ({} records, {} not accepted)", config_.name, batch.key, accepted,
                 plans.size() - static_cast<std::size_t>(accepted));
  return outcomes(paths, plans);
}

std::vector<DeliveryOutcome> XmlDropSink::redeliver(const core::DeliveryBatch& batch, const BatchPaths& paths,
                                                    std::vector<ItemPlan>& plans) {
  for (std::size_t i = 0; i < paths.names.size(); ++i) {
    fs::remove(paths.tmp(i));
    fs::remove(paths.done_tmp(i));
  }
  fs::remove_all(paths.attachments_tmp);
  verify_published_attachments(paths, plans);
  bool any_published = true;
  if (config_.mode == Mode::per_submission) publish_documents(paths, plans, nullptr, any_published);
  if (config_.trigger_file) {
    for (std::size_t i = 0; i < paths.names.size(); ++i)
      if (exists_as_file(paths.file(i)) && !exists_as_file(paths.done(i)))
        csv_drop::publish_file(paths.done_tmp(i), paths.done(i), {});
  }
  log_rejections(batch, plans);
  spdlog::info("xml_drop[{}]: batch {} was already published; missing files written, outcomes recomputed",
               config_.name, batch.key);
  return outcomes(paths, plans);
}

std::vector<DeliveryOutcome> XmlDropSink::deliver(const core::DeliveryBatch& batch) {
  if (batch.items.empty()) return {};
  const BatchPaths paths = paths_for(batch);
  try {
    std::vector<ItemPlan> plans = plan_items(batch);
    if (fs::create_directories(config_.directory) && config_.directory.has_parent_path())
      csv_drop::fsync_directory(config_.directory.parent_path());  // make the new folder itself durable
    bool published = false;
    if (config_.mode == Mode::batch) {
      published = exists_as_file(paths.file(0));
      for (ItemPlan& plan : plans) plan.published = published;
    } else {
      for (std::size_t i = 0; i < plans.size(); ++i) {
        plans[i].published = exists_as_file(paths.file(i));
        // A published document was delivered, whatever a re-render says now.
        if (plans[i].published) plans[i].reject.reset();
        published = published || plans[i].published;
      }
    }
    if (published) return redeliver(batch, paths, plans);
    return publish(batch, paths, plans);
  } catch (const std::exception& e) {
    // Messages name operations and our own paths, never record contents.
    spdlog::error("xml_drop[{}]: batch {} not delivered: {}", config_.name, batch.key, e.what());
    return std::vector<DeliveryOutcome>(batch.items.size(),
                                        DeliveryOutcome::fail(DeliveryStatus::retry, "io_error", e.what()));
  }
}

}  // namespace reportbridge::xml_drop
