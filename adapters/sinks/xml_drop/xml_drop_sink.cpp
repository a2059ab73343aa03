#include "adapters/sinks/xml_drop/xml_drop_sink.hpp"

#include <set>

#include "bridge/xml/rejection.hpp"

#include <libxml/tree.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>


namespace reportbridge::xml_drop {

namespace fs = std::filesystem;
using core::DeliveryOutcome;
using core::DeliveryStatus;

namespace {

DeliveryOutcome reject(std::string code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, std::move(code), std::move(detail));
}

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
    : config_(std::move(config)) {
  const auto invalid = [this](const std::string& what) {
    return std::invalid_argument("xml_drop target '" + config_.name + "': " + what);
  };
  if (config_.name.empty()) throw invalid("name is empty");
  if (config_.directory.empty()) throw invalid("directory is empty");
  if (config_.xsd.empty()) throw invalid("xsd is empty");
  if (config_.layout.root.empty()) throw invalid("root element is empty");
  if (config_.max_items == 0) throw invalid("max_items must be at least 1");
  if (config_.max_age.count() < 0) throw invalid("max_age must not be negative");
  drop_.emplace(file_drop::Settings{config_.name, config_.directory,
                                    config_.file_prefix.empty() ? config_.name : config_.file_prefix,
                                    config_.trigger_file, config_.copy_attachments, config_.max_attachment_bytes},
                std::move(locator), "xml_drop target");

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
  const std::string stem = drop_->stem(batch_key);
  if (config_.mode == Mode::batch) return stem + ".xml";
  return stem + "-" + std::to_string(index + 1) + ".xml";
}

std::vector<std::string> XmlDropSink::attachment_file_names(const core::TargetRecord& record) const {
  return drop_->attachment_names(record);
}

file_drop::BatchFiles XmlDropSink::files_for(const core::DeliveryBatch& batch) const {
  std::vector<std::string> names;
  const std::size_t documents = config_.mode == Mode::batch ? 1 : batch.items.size();
  for (std::size_t i = 0; i < documents; ++i) names.push_back(file_name(batch.key, i));
  auto files = drop_->files(batch.key, std::move(names));
  files.still_held = batch.still_held;
  return files;
}

std::string XmlDropSink::serialize(const xmlDoc& doc) const {
  return xml::to_string(doc, config_.pretty ? xml::Format::pretty : xml::Format::compact, true);
}

void XmlDropSink::render(const core::DeliveryItem& item, file_drop::DropItem& plan, xml::DocPtr& doc) const {
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
  doc = std::move(rendered.doc);
}

std::string XmlDropSink::encode_preview(const core::TargetRecord& record) const {
  xml::RenderExtras extras;
  extras.stored_names = attachment_file_names(record);
  xml::RenderResult rendered = renderer_->render(record, extras);
  if (!rendered) throw std::runtime_error(rendered.error->code + ": " + rendered.error->detail);
  const auto errors = validator_->validate(*rendered.doc);
  if (!errors.empty()) {
    // Lines of the pretty rendering (render() numbers them so), whatever `pretty` says.
    std::set<int> lines;
    for (const auto& e : errors)
      if (e.line > 0) lines.insert(e.line);
    throw xml::DocumentRejected("schema_invalid: " + xml::join_errors(errors),
                                xml::fields_behind(*renderer_, *rendered.doc, record, errors),
                                xml::numbered_listing(xml::to_string(*rendered.doc, xml::Format::pretty, true), lines));
  }
  return serialize(*rendered.doc);
}

xml::DocPtr XmlDropSink::batch_document(const core::DeliveryBatch& batch, Items& items, const Docs& docs) const {
  const auto accepted = static_cast<std::size_t>(
      std::count_if(items.begin(), items.end(), [](const file_drop::DropItem& p) { return !p.reject; }));
  core::TargetRecord wrapper;
  const auto& allowed = batch_renderer_->allowed_field_paths();
  const auto allows = [&](const char* path) { return std::find(allowed.begin(), allowed.end(), path) != allowed.end(); };
  if (allows("@batchKey")) wrapper.fields.push_back({"@batchKey", batch.key});
  if (allows("@count")) wrapper.fields.push_back({"@count", std::to_string(accepted)});
  xml::RenderResult rendered = batch_renderer_->render(wrapper);
  if (!rendered) throw std::logic_error("batch root: " + rendered.error->detail);
  xmlNode* root = xmlDocGetRootElement(rendered.doc.get());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].reject) continue;
    xmlNode* copy = xmlDocCopyNode(xmlDocGetRootElement(docs[i].get()), rendered.doc.get(), 1);
    if (!copy) throw std::bad_alloc();
    xmlAddChild(root, copy);
    drop_repeated_ns(copy, root);
  }
  xml::assign_pretty_line_numbers(*rendered.doc);
  const auto errors = validator_->validate(*rendered.doc);
  if (errors.empty()) return std::move(rendered.doc);
  const std::string detail = "batch document: " + xml::join_errors(xml::redact_values(errors));
  for (auto& item : items)
    if (!item.reject) item.reject = reject("schema_invalid", detail);
  return nullptr;
}

void XmlDropSink::publish_documents(const file_drop::BatchFiles& files, const Items& items, const Docs& docs,
                                    const xmlDoc* batch_doc) const {
  if (config_.mode == Mode::batch) {
    if (batch_doc) drop_->publish_document(files, 0, serialize(*batch_doc));
    return;
  }
  for (std::size_t i = 0; i < items.size(); ++i)
    if (!items[i].reject && !items[i].published) drop_->publish_document(files, i, serialize(*docs[i]));
}

std::vector<DeliveryOutcome> XmlDropSink::outcomes(const file_drop::BatchFiles& files, const Items& items) const {
  std::vector<DeliveryOutcome> out;
  out.reserve(items.size());
  std::size_t row = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].reject) out.push_back(*items[i].reject);
    else if (config_.mode == Mode::batch) out.push_back(DeliveryOutcome::ok(files.names[0] + "#" + std::to_string(++row)));
    else out.push_back(DeliveryOutcome::ok(files.names[i]));
  }
  return out;
}

void XmlDropSink::log_rejections(const core::DeliveryBatch& batch, const Items& items) const {
  for (const auto& item : items)
    if (item.reject)
      spdlog::warn("xml_drop[{}]: batch {} outbox item {} {}: {}", config_.name, batch.key, item.item->outbox_id,
                   item.reject->status == DeliveryStatus::retry ? "left for a retry" : "rejected",
                   item.reject->reason_code);
}

std::vector<DeliveryOutcome> XmlDropSink::publish(const core::DeliveryBatch& batch, const file_drop::BatchFiles& files,
                                                  Items& items, const Docs& docs) {
  xml::DocPtr batch_doc;
  const auto any_accepted = [&] {
    return std::any_of(items.begin(), items.end(), [](const file_drop::DropItem& p) { return !p.reject; });
  };
  drop_->publish(
      files, items,
      [&] {
        if (config_.mode == Mode::batch && any_accepted()) batch_doc = batch_document(batch, items, docs);
      },
      [&] { publish_documents(files, items, docs, batch_doc.get()); });
  log_rejections(batch, items);
  const auto accepted =
      std::count_if(items.begin(), items.end(), [](const file_drop::DropItem& p) { return !p.reject; });
  if (accepted == 0)
    spdlog::warn("xml_drop[{}]: batch {}: no item accepted, nothing written", config_.name, batch.key);
  else
    spdlog::info("xml_drop[{}]: batch {} published ({} records, {} not accepted)", config_.name, batch.key, accepted,
                 items.size() - static_cast<std::size_t>(accepted));
  return outcomes(files, items);
}

// Redelivery: published documents are never rewritten. Batch mode: outcomes
// recomputed from the published attachment folder (a missing copy means the
// item was left out). Per submission: a published document was delivered;
// the others get their missing attachment copies and their documents.
std::vector<DeliveryOutcome> XmlDropSink::redeliver(const core::DeliveryBatch& batch,
                                                    const file_drop::BatchFiles& files, Items& items,
                                                    const Docs& docs) {
  drop_->remove_temp_files(files);
  if (config_.mode == Mode::batch) drop_->recheck_published(files, items, nullptr);
  drop_->complete_attachments(files, items);
  if (config_.mode == Mode::per_submission) publish_documents(files, items, docs, nullptr);
  drop_->write_missing_triggers(files);
  log_rejections(batch, items);
  spdlog::info("xml_drop[{}]: batch {} was already published; missing files written, outcomes recomputed",
               config_.name, batch.key);
  return outcomes(files, items);
}

std::vector<DeliveryOutcome> XmlDropSink::deliver(const core::DeliveryBatch& batch) {
  if (batch.items.empty()) return {};
  const file_drop::BatchFiles files = files_for(batch);
  try {
    Items items = drop_->items(batch);
    Docs docs(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) render(batch.items[i], items[i], docs[i]);
    drop_->ensure_directory();
    bool published = false;
    if (config_.mode == Mode::batch) {
      published = files.exists(0);
      for (auto& item : items) item.published = published;
    } else {
      for (std::size_t i = 0; i < items.size(); ++i) {
        items[i].published = files.exists(i);
        // A published document was delivered, whatever a re-render says now.
        if (items[i].published) items[i].reject.reset();
        published = published || items[i].published;
      }
    }
    if (published) return redeliver(batch, files, items, docs);
    return publish(batch, files, items, docs);
  } catch (const std::exception& e) {
    // Messages name operations and our own paths, never record contents.
    spdlog::error("xml_drop[{}]: batch {} not delivered: {}", config_.name, batch.key, e.what());
    return std::vector<DeliveryOutcome>(batch.items.size(),
                                        DeliveryOutcome::fail(DeliveryStatus::retry, "io_error", e.what()));
  }
}

}  // namespace reportbridge::xml_drop
