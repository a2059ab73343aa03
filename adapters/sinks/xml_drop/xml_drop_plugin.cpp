#include "adapters/sinks/xml_drop/xml_drop_plugin.hpp"

#include "adapters/sinks/xml_drop/xml_drop_sink.hpp"
#include "bridge/xml/field_check.hpp"
#include "bridge/xml/schema_set.hpp"

namespace reportbridge::xml_drop {

namespace {

using config::ValueKind;

xml::XmlLayout layout_from(const YAML::Node& s, const std::string& root_key) {
  xml::XmlLayout layout;
  layout.root = config::get_string(s, root_key, "");
  layout.namespace_uri = config::get_string(s, "namespace", "");
  layout.prefix = config::get_string(s, "prefix", "");
  if (const YAML::Node n = s["namespaces"]; n && n.IsMap())
    for (const auto& kv : n) layout.namespaces.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  if (const YAML::Node f = s["fields"]; f && f.IsMap())
    for (const auto& kv : f) layout.fields.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  layout.attachments_path = config::get_string(s, "attachments_path", "");
  return layout;
}

// Mapping field names an XML target takes: paths resolved against the whole
// schema set (why and the nearest valid paths when one does not resolve).
xml::FieldCheck xml_field_check(const config::DaemonConfig& cfg, const config::TargetSettings& t) {
  try {
    return xml::field_check(std::make_shared<const xml::XmlRenderer>(
        xml::SchemaSet::load(cfg.resolve(config::get_string(t.settings, "xsd", ""))), layout_from(t.settings, "root")));
  } catch (const std::exception&) {
    return {};  // the factory reports the bad schema or layout
  }
}

// Constants, defaults and lookup values a mapping gives an XML field, checked
// against that element's facets (enumeration, length, pattern, range).
xml::ValueCheck xml_value_check(const config::DaemonConfig& cfg, const config::TargetSettings& t) {
  try {
    return xml::value_check(std::make_shared<const xml::XmlRenderer>(
        xml::SchemaSet::load(cfg.resolve(config::get_string(t.settings, "xsd", ""))), layout_from(t.settings, "root")));
  } catch (const std::exception&) {
    return {};  // the factory reports the bad schema or layout
  }
}

const config::MapSpec kXmlDropSpec{
    "xml_drop target",
    {{"directory", ValueKind::string, true, "Folder the XML documents are published into (created if missing)."},
     {"xsd", ValueKind::string, true, "The target's XSD (its local xs:include/xs:import files are read too) or a WSDL; every document is validated against it before it is written."},
     {"root", ValueKind::string, true, "Global element of the XSD that holds one record (e.g. Complaint)."},
     {"namespace", ValueKind::string, false, "Namespace of the root element (default: the XSD's targetNamespace)."},
     {"prefix", ValueKind::string, false, "Namespace prefix (default: none, xmlns=\"...\")."},
     {"namespaces", ValueKind::map, false, "prefix: uri pairs used in field paths (nc:Incident/nc:ActivityDate) and declared on the root."},
     {"fields", ValueKind::map, false, "Mapping field name -> document path (Parent/Child, @attr, Parent/@attr, Item[2]/Name, p:Name)."},
     {"attachments_path", ValueKind::string, false, "Repeated element listing attachments (e.g. Attachments/Attachment)."},
     {"mode", ValueKind::string, false, "per_submission (default) or batch.", {"per_submission", "batch"}},
     {"batch_root", ValueKind::string, false, "batch mode: global element wrapping the records (e.g. ComplaintBatch)."},
     {"file_prefix", ValueKind::string, false, "File name prefix (default: the target name)."},
     {"pretty", ValueKind::boolean, false, "Indented output (default true)."},
     {"max_items", ValueKind::integer, false, "Records per batch (default 1000)."},
     {"max_age", ValueKind::duration, false, "Publish once the oldest pending record waited this long (default 60s)."},
     {"trigger_file", ValueKind::boolean, false, "Write <file>.done after each document (default false)."},
     {"copy_attachments", ValueKind::boolean, false, "Copy attachments beside the documents (default true)."},
     {"max_attachment_size", ValueKind::size, false, "Larger attachments reject the item (default 50MiB)."},
     {"related_reference_field", ValueKind::string, false,
      "Field filled with the earlier delivery's reference on updates (default RelatedReference; empty: never)."}}};

std::unique_ptr<core::Sink> make_xml_drop(const config::DaemonConfig& cfg, const config::TargetSettings& t,
                                          std::vector<std::string>, core::AttachmentLocator locator,
                                          core::Diagnostics& diags) {
  const auto& s = t.settings;
  XmlDropConfig c;
  c.name = t.name;
  c.directory = cfg.resolve(config::get_string(s, "directory", ""));
  c.xsd = cfg.resolve(config::get_string(s, "xsd", ""));
  c.layout = layout_from(s, "root");
  c.mode = config::get_string(s, "mode", "per_submission") == "batch" ? Mode::batch
                                                                      : Mode::per_submission;
  c.batch_root = config::get_string(s, "batch_root", "");
  c.file_prefix = config::get_string(s, "file_prefix", "");
  c.pretty = config::get_bool(s, "pretty", true);
  c.max_items = static_cast<std::size_t>(config::get_int(s, "max_items", 1000, cfg.file, diags, 1));
  c.max_age = config::get_duration(s, "max_age", c.max_age);
  c.trigger_file = config::get_bool(s, "trigger_file", false);
  c.copy_attachments = config::get_bool(s, "copy_attachments", true);
  c.max_attachment_bytes = config::get_size(s, "max_attachment_size", c.max_attachment_bytes);
  c.related_reference_field = config::get_string(s, "related_reference_field", "RelatedReference");
  try {
    return std::make_unique<XmlDropSink>(std::move(c), std::move(locator));
  } catch (const std::exception& e) {  // invalid settings, or an XSD that cannot be read
    diags.error(t.position.file, t.position.line, t.position.column, "target '" + t.name + "': " + e.what(),
                "config.bad_target");
    return nullptr;
  }
}

}  // namespace

config::SinkType sink_type() {
  config::SinkType t{"xml_drop", kXmlDropSpec, make_xml_drop, {}};
  t.field_check = xml_field_check;
  t.value_check = xml_value_check;
  return t;
}

}  // namespace reportbridge::xml_drop
