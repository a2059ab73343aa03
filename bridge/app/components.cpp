#include "bridge/app/components.hpp"

#include <algorithm>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "adapters/sinks/soap/secret_file.hpp"
#include "adapters/sinks/soap/soap_sink.hpp"
#include "adapters/sinks/xml_drop/xml_drop_sink.hpp"
#include "bridge/xml/schema_set.hpp"
#include "bridge/xml/xml_renderer.hpp"

namespace reportbridge::app {

namespace {

using config::KeySpec;
using config::ValueKind;

const config::MapSpec kCsvDropSpec{
    "csv_drop target",
    {{"directory", ValueKind::string, true, "Folder the CSV files are published into (created if missing)."},
     {"file_prefix", ValueKind::string, false, "File name prefix (default: the target name)."},
     {"delimiter", ValueKind::string, false, "comma (default), semicolon, tab or pipe.",
      {"comma", "semicolon", "tab", "pipe"}},
     {"encoding", ValueKind::string, false, "utf-8 (default), utf-8-bom (for Excel) or windows-1252.",
      {"utf-8", "utf-8-bom", "windows-1252"}},
     {"unencodable", ValueKind::string, false,
      "windows-1252 only: transliterate (default; leftovers written as [U+XXXX]) or reject.",
      {"transliterate", "reject"}},
     {"header", ValueKind::boolean, false, "Write a header row (default true)."},
     {"formula_guard", ValueKind::boolean, false,
      "Prefix cells starting with = + - @ TAB CR with ' (default true)."},
     {"max_rows", ValueKind::integer, false, "Roll a file at this many rows (default 5000)."},
     {"max_age", ValueKind::duration, false, "Publish a partial file once its oldest row waited this long (default 60s)."},
     {"trigger_file", ValueKind::boolean, false, "Write <file>.done after publishing (default false)."},
     {"copy_attachments", ValueKind::boolean, false, "Copy attachments beside the CSV (default true)."},
     {"max_attachment_size", ValueKind::size, false, "Larger attachments reject the item (default 50MiB)."},
     {"line_ending", ValueKind::string, false, "crlf (default, RFC 4180) or lf.", {"crlf", "lf"}}}};

std::unique_ptr<core::Sink> make_csv_drop(const config::DaemonConfig& cfg,
                                          const config::TargetSettings& t,
                                          std::vector<std::string> columns,
                                          core::AttachmentLocator locator, core::Diagnostics& diags) {
  const auto& s = t.settings;
  csv_drop::CsvDropConfig c;
  c.name = t.name;
  c.directory = cfg.resolve(config::get_string(s, "directory", ""));
  c.file_prefix = config::get_string(s, "file_prefix", "");
  const std::string delim = config::get_string(s, "delimiter", "comma");
  c.delimiter = delim == "semicolon" ? ';' : delim == "tab" ? '\t' : delim == "pipe" ? '|' : ',';
  const std::string enc = config::get_string(s, "encoding", "utf-8");
  c.encoding = enc == "utf-8-bom"      ? csv_drop::Encoding::utf8_bom
               : enc == "windows-1252" ? csv_drop::Encoding::windows_1252
                                       : csv_drop::Encoding::utf8;
  c.unencodable = config::get_string(s, "unencodable", "transliterate") == "reject"
                      ? csv_drop::UnencodablePolicy::reject
                      : csv_drop::UnencodablePolicy::transliterate;
  c.header = config::get_bool(s, "header", true);
  c.formula_guard = config::get_bool(s, "formula_guard", true);
  c.max_rows = static_cast<std::size_t>(config::get_int(s, "max_rows", 5000, cfg.file, diags, 1));
  c.max_age = config::get_duration(s, "max_age", c.max_age);
  c.trigger_file = config::get_bool(s, "trigger_file", false);
  c.copy_attachments = config::get_bool(s, "copy_attachments", true);
  c.max_attachment_bytes = config::get_size(s, "max_attachment_size", c.max_attachment_bytes);
  c.line_ending = config::get_string(s, "line_ending", "crlf") == "lf" ? "\n" : "\r\n";
  if (columns.empty()) {
    diags.error(t.position.file, t.position.line, t.position.column,
                "no mapping feeds target '" + t.name + "', so it has no columns", "config.target_unused");
    return nullptr;
  }
  try {
    return std::make_unique<csv_drop::CsvDropSink>(std::move(c), std::move(columns), std::move(locator));
  } catch (const std::invalid_argument& e) {
    // The sink refuses settings it cannot honour (a prefix unsafe in file names, ...).
    auto p = s["file_prefix"] ? config::position_of(cfg.file, s["file_prefix"]) : t.position;
    diags.error(p.file, p.line, p.column, "target '" + t.name + "': " + e.what(), "config.bad_target");
    return nullptr;
  }
}


// --- xml_drop and soap: records become XML documents validated by an XSD ---

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
std::function<std::optional<std::string>(const std::string&)> xml_field_check(const config::DaemonConfig& cfg,
                                                                                 const config::TargetSettings& t,
                                                                                 const char* xsd_key,
                                                                                 const char* root_key) {
  try {
    auto renderer = std::make_shared<const xml::XmlRenderer>(
        xml::SchemaSet::load(cfg.resolve(config::get_string(t.settings, xsd_key, ""))), layout_from(t.settings, root_key));
    return [renderer](const std::string& field) -> std::optional<std::string> {
      auto r = renderer->resolve_field(field);
      if (r) return std::nullopt;
      std::string why = r.error->message;
      if (!r.error->suggestions.empty()) {
        why += " (did you mean ";
        for (std::size_t i = 0; i < r.error->suggestions.size(); ++i) why += (i ? ", " : "") + r.error->suggestions[i];
        why += "?)";
      }
      return why;
    };
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
  xml_drop::XmlDropConfig c;
  c.name = t.name;
  c.directory = cfg.resolve(config::get_string(s, "directory", ""));
  c.xsd = cfg.resolve(config::get_string(s, "xsd", ""));
  c.layout = layout_from(s, "root");
  c.mode = config::get_string(s, "mode", "per_submission") == "batch" ? xml_drop::Mode::batch
                                                                      : xml_drop::Mode::per_submission;
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
    return std::make_unique<xml_drop::XmlDropSink>(std::move(c), std::move(locator));
  } catch (const std::exception& e) {  // invalid settings, or an XSD that cannot be read
    diags.error(t.position.file, t.position.line, t.position.column, "target '" + t.name + "': " + e.what(),
                "config.bad_target");
    return nullptr;
  }
}

const config::MapSpec kSoapSpec{
    "soap target",
    {{"url", ValueKind::string, true, "Endpoint, http:// or https:// (no credentials in the URL)."},
     {"soap_version", ValueKind::string, false, "1.1 (default) or 1.2.", {"1.1", "1.2"}},
     {"schema", ValueKind::string, true, "XSD of the record document; every document is validated before sending."},
     {"root", ValueKind::string, true, "Global element of the XSD the record becomes."},
     {"namespace", ValueKind::string, false, "Namespace of the root element (default: the XSD's targetNamespace)."},
     {"prefix", ValueKind::string, false, "Namespace prefix of the record document (default: none)."},
     {"fields", ValueKind::map, false, "Mapping field name -> document path (Parent/Child, @attr)."},
     {"service_namespace", ValueKind::string, false, "Namespace of the operation elements (default urn:reportbridge:rms:service:1)."},
     {"namespaces", ValueKind::map, false, "Extra prefix: uri pairs for the XPaths and the field paths (svc, soap, soap11, soap12 predefined)."},
     {"create", ValueKind::map, false, "operation, soap_action, reference_xpath of the create call."},
     {"update", ValueKind::map, false, "Same keys; used for a new version of a delivered submission."},
     {"lookup", ValueKind::map, false, "Same keys; finds a record by external reference before resending an in-doubt one."},
     {"in_doubt", ValueKind::string, false, "Without lookup: resend (default) or hold (reject for an operator).", {"resend", "hold"}},
     {"username", ValueKind::string, false, "User for basic auth / WS-Security."},
     {"password_file", ValueKind::string, false, "File holding the password."},
     {"password_credential", ValueKind::string, false, "Name of a systemd credential ($CREDENTIALS_DIRECTORY/<name>) holding the password."},
     {"basic_auth", ValueKind::boolean, false, "Send HTTP basic auth (default false)."},
     {"ws_security", ValueKind::string, false, "none (default), text or digest UsernameToken.", {"none", "text", "digest"}},
     {"ca_file", ValueKind::string, false, "PEM CA bundle (default: system trust store)."},
     {"client_cert", ValueKind::string, false, "PEM client certificate for mutual TLS."},
     {"client_key", ValueKind::string, false, "PEM key of client_cert."},
     {"connect_timeout", ValueKind::duration, false, "Resolve + connect + TLS handshake (default 5s)."},
     {"read_timeout", ValueKind::duration, false, "Each wait for response bytes (default 30s)."},
     {"request_timeout", ValueKind::duration, false, "One whole request (default 60s)."},
     {"max_connections", ValueKind::integer, false, "Requests in flight (default 4)."},
     {"rate_limit", ValueKind::number, false, "Requests started per second (default unlimited)."},
     {"max_response_size", ValueKind::size, false, "Larger responses are refused (default 4MiB)."},
     {"attachments_path", ValueKind::string, false, "Attachment element path, e.g. Attachments/Attachment."},
     {"attachment_content_element", ValueKind::string, false, "Inline base64 element (default Content; empty: none)."},
     {"attachment_reference_element", ValueKind::string, false, "Reference element for large attachments (default ContentReference)."},
     {"max_inline_attachment_size", ValueKind::size, false, "Larger attachments go by reference (default 10MiB)."},
     {"attachment_reference", ValueKind::string, false, "Reference text: {id} {sha256} {path} {submission_id} (default {id})."},
     {"batch_size", ValueKind::integer, false, "Items per batch (default 100)."},
     {"batch_wait", ValueKind::duration, false, "Oldest item waits at most this (default 1s)."}}};

std::unique_ptr<core::Sink> make_soap(const config::DaemonConfig& cfg, const config::TargetSettings& t,
                                      std::vector<std::string>, core::AttachmentLocator locator,
                                      core::Diagnostics& diags) {
  const auto& s = t.settings;
  soap::SoapConfig c;
  try {
    c.name = t.name;
    c.url = config::get_string(s, "url", "");
    c.version = config::get_string(s, "soap_version", "1.1") == "1.2" ? soap::SoapVersion::v12 : soap::SoapVersion::v11;
    c.schema = cfg.resolve(config::get_string(s, "schema", ""));
    c.layout = layout_from(s, "root");
    c.service_namespace = config::get_string(s, "service_namespace", c.service_namespace);
    if (s["namespaces"] && s["namespaces"].IsMap())
      for (const auto& kv : s["namespaces"]) c.namespaces.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
    auto op = [&](const char* key, soap::SoapOperation d) {
      const YAML::Node n = s[key];
      if (!n || !n.IsMap()) return d;
      return soap::SoapOperation{config::get_string(n, "operation", d.name), config::get_string(n, "soap_action", d.soap_action),
                                 config::get_string(n, "reference_xpath", d.reference_xpath)};
    };
    c.create = op("create", c.create);
    c.update = op("update", {});
    c.lookup = op("lookup", {});
    c.in_doubt = config::get_string(s, "in_doubt", "resend") == "hold" ? soap::InDoubtPolicy::hold : soap::InDoubtPolicy::resend;
    c.username = config::get_string(s, "username", "");
    if (s["password_file"]) c.password_file = cfg.resolve(config::get_string(s, "password_file", ""));
    if (s["password_credential"]) c.password_file = soap::credential_path(config::get_string(s, "password_credential", ""));
    c.basic_auth = config::get_bool(s, "basic_auth", false);
    const auto wsse = config::get_string(s, "ws_security", "none");
    c.wsse = wsse == "text" ? soap::WsseMode::text : wsse == "digest" ? soap::WsseMode::digest : soap::WsseMode::none;
    if (s["ca_file"]) c.http.tls.ca_file = cfg.resolve(config::get_string(s, "ca_file", ""));
    if (s["client_cert"]) c.http.tls.client_cert = cfg.resolve(config::get_string(s, "client_cert", ""));
    if (s["client_key"]) c.http.tls.client_key = cfg.resolve(config::get_string(s, "client_key", ""));
    c.http.connect_timeout = config::get_duration(s, "connect_timeout", c.http.connect_timeout);
    c.http.read_timeout = config::get_duration(s, "read_timeout", c.http.read_timeout);
    c.http.total_timeout = config::get_duration(s, "request_timeout", c.http.total_timeout);
    c.http.max_connections = static_cast<std::size_t>(config::get_int(s, "max_connections", 4, cfg.file, diags, 1));
    if (s["rate_limit"]) c.http.rate_per_second = s["rate_limit"].as<double>();
    c.http.max_response_bytes = config::get_size(s, "max_response_size", c.http.max_response_bytes);
    c.attachment_content_element = config::get_string(s, "attachment_content_element", c.attachment_content_element);
    c.attachment_reference_element = config::get_string(s, "attachment_reference_element", c.attachment_reference_element);
    c.max_inline_bytes = config::get_size(s, "max_inline_attachment_size", c.max_inline_bytes);
    c.attachment_reference = config::get_string(s, "attachment_reference", c.attachment_reference);
    c.batch.max_items = static_cast<std::size_t>(config::get_int(s, "batch_size", 100, cfg.file, diags, 1));
    c.batch.max_wait = config::get_duration(s, "batch_wait", c.batch.max_wait);
    return std::make_unique<soap::SoapSink>(std::move(c), std::move(locator));
  } catch (const std::exception& e) {  // bad URL/XPath/layout, unreadable XSD, TLS or secret files (never the secret)
    diags.error(t.position.file, t.position.line, t.position.column, "target '" + t.name + "': " + e.what(),
                "config.bad_target");
    return nullptr;
  }
}

}  // namespace

const std::map<std::string, TargetFactory>& builtin_targets() {
  static const std::map<std::string, TargetFactory> targets{
      {"csv_drop", {kCsvDropSpec, make_csv_drop}},
      {"xml_drop",
       {kXmlDropSpec, make_xml_drop, {},
        [](const config::DaemonConfig& c, const config::TargetSettings& t) {
          return xml_field_check(c, t, "xsd", "root");
        }}},
      {"soap",
       {kSoapSpec, make_soap, {},
        [](const config::DaemonConfig& c, const config::TargetSettings& t) {
          return xml_field_check(c, t, "schema", "root");
        }}},
  };
  return targets;
}

config::TargetSpecs builtin_target_specs() {
  config::TargetSpecs specs;
  for (const auto& [type, factory] : builtin_targets()) specs.emplace(type, factory.spec);
  return specs;
}

}  // namespace reportbridge::app
