#include "adapters/sinks/soap/soap_plugin.hpp"

#include "adapters/sinks/soap/secret_file.hpp"
#include "adapters/sinks/soap/soap_sink.hpp"
#include "adapters/sinks/soap/wsdl_soap_sink.hpp"
#include "bridge/xml/field_check.hpp"
#include "bridge/xml/schema_set.hpp"

namespace reportbridge::soap {

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

const config::MapSpec kWsdlOperationSpec{
    "soap operation",
    {{"operation", ValueKind::string, true, "The WSDL operation's name."},
     {"reference", ValueKind::string, false, "XPath of the legacy reference in the answer (context: soap:Body; prefixes from namespaces)."},
     {"not_found", ValueKind::any, false, "lookup: empty (default), nil, or {fault: Code}."},
     {"on_existing", ValueKind::map, false, "create: {fault: Code, reference: XPath}: the target refuses a second record with the same external reference with this fault; the existing record's reference is at `reference` (context soap:Body), or found by the lookup. An in-doubt create is then resent at once (no settle time)."},
     {"fields", ValueKind::map, false, "Record field name -> path in this operation's input (default: the field's name)."},
     {"values", ValueKind::map, false, "Path in this operation's input -> bridge value (external_reference, submission_id, version, legacy_reference, attachment_count, request_id) or {const: TEXT}."}}};

std::unique_ptr<WsdlSoapSink> make_wsdl_sink(const config::DaemonConfig& cfg, const config::TargetSettings& t,
                                             core::Diagnostics& diags, bool report, bool create_only = false,
                                             bool* settings_ok = nullptr);

// Mapping field names an XML target takes: paths resolved against the whole
// schema set (why and the nearest valid paths when one does not resolve).
xml::FieldCheck xml_field_check(const config::DaemonConfig& cfg, const config::TargetSettings& t) {
  try {
    if (t.settings["wsdl"]) {
      core::Diagnostics ignored;
      std::shared_ptr<const WsdlSoapSink> sink = make_wsdl_sink(cfg, t, ignored, false);
      // A bad update/lookup setting (reported by the factory) does not hide the mapping's paths.
      if (!sink) sink = make_wsdl_sink(cfg, t, ignored, false, true);
      if (!sink) return {};
      return [sink](const std::string& field) { return sink->check_field(field); };
    }
    return xml::field_check(std::make_shared<const xml::XmlRenderer>(
        xml::SchemaSet::load(cfg.resolve(config::get_string(t.settings, "schema", ""))), layout_from(t.settings, "root")));
  } catch (const std::exception&) {
    return {};  // the factory reports the bad schema or layout
  }
}

const config::MapSpec kSoapSpec{
    "soap target",
    {{"wsdl", ValueKind::string, false, "The legacy system's WSDL 1.1 (local file; its wsdl:import/xs:import/xs:include files are read too): operations, SOAPAction, SOAP version, style, endpoint and schemas come from it. Without it: the legacy built-in CreateCommunityReport shape (schema + root), kept for existing installations."},
     {"service", ValueKind::string, false, "wsdl: the wsdl:service (default: the one offering the operations)."},
     {"port", ValueKind::string, false, "wsdl: the wsdl:port (default: the one usable SOAP port; SOAP 1.1 when both are offered)."},
     {"validate_response", ValueKind::boolean, false, "wsdl: validate answers against the output message schema (default true)."},
     {"settle_time", ValueKind::duration, false, "An in-doubt item is neither looked up nor resent before this has passed since its last send (default request_timeout + read_timeout)."},
     {"url", ValueKind::string, false, "Endpoint, http:// or https:// (no credentials in the URL). With wsdl: overrides the port's soap:address."},
     {"soap_version", ValueKind::string, false, "1.1 (default) or 1.2.", {"1.1", "1.2"}},
     {"schema", ValueKind::string, false, "XSD of the record document; every document is validated before sending."},
     {"root", ValueKind::string, false, "Global element of the XSD the record becomes (without wsdl)."},
     {"namespace", ValueKind::string, false, "Namespace of the root element (default: the XSD's targetNamespace)."},
     {"prefix", ValueKind::string, false, "Namespace prefix of the record document (default: none)."},
     {"fields", ValueKind::map, false, "Mapping field name -> document path (Parent/Child, @attr)."},
     {"service_namespace", ValueKind::string, false, "Namespace of the operation elements (default urn:reportbridge:rms:service:1)."},
     {"namespaces", ValueKind::map, false, "Extra prefix: uri pairs for the XPaths and the field paths (svc, soap, soap11, soap12 predefined)."},
     {"create", ValueKind::map, false, "wsdl: {operation, reference, fields, values, on_existing: {fault, reference}}; without: operation, soap_action, reference_xpath of the create call."},
     {"update", ValueKind::map, false, "Same keys; used for a new version of a delivered submission."},
     {"lookup", ValueKind::map, false, "Same keys (wsdl: and not_found: empty|nil|{fault: Code}); finds a record by external reference before resending an in-doubt one."},
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
     {"attachment_content", ValueKind::string, false, "wsdl: path below the attachment element (an xs:base64Binary element or attribute) that gets the file inline, streamed as base64, for attachments up to max_inline_attachment_size (default: none, metadata only)."},
     {"attachment_content_reference", ValueKind::string, false, "wsdl: path below the attachment element that gets attachment_reference for larger attachments (default: none; then a larger one is rejected attachment_too_large)."},
     {"attachment_content_element", ValueKind::string, false, "Built-in shape: inline base64 element (default Content; empty: none)."},
     {"attachment_reference_element", ValueKind::string, false, "Built-in shape: reference element for large attachments (default ContentReference)."},
     {"max_inline_attachment_size", ValueKind::size, false, "Larger attachments go by reference (default 10MiB)."},
     {"max_request_size", ValueKind::size, false, "Largest request the target accepts; attachments inline only while it fits, the rest by reference (default no limit)."},
     {"attachment_reference", ValueKind::string, false, "Reference text: {id} {sha256} {path} {submission_id} (default {id})."},
     {"batch_size", ValueKind::integer, false, "Items per batch (default 100)."},
     {"batch_wait", ValueKind::duration, false, "Oldest item waits at most this (default 1s)."}}};

// The settings both forms share (SoapConfig, WsdlSoapConfig).
template <class C>
void read_common(const config::DaemonConfig& cfg, const YAML::Node& s, C& c, core::Diagnostics& diags) {
  c.username = config::get_string(s, "username", "");
  if (s["password_file"]) c.password_file = cfg.resolve(config::get_string(s, "password_file", ""));
  if (s["password_credential"]) c.password_file = credential_path(config::get_string(s, "password_credential", ""));
  c.basic_auth = config::get_bool(s, "basic_auth", false);
  const auto wsse = config::get_string(s, "ws_security", "none");
  c.wsse = wsse == "text" ? WsseMode::text : wsse == "digest" ? WsseMode::digest : WsseMode::none;
  c.in_doubt = config::get_string(s, "in_doubt", "resend") == "hold" ? InDoubtPolicy::hold : InDoubtPolicy::resend;
  if (s["ca_file"]) c.http.tls.ca_file = cfg.resolve(config::get_string(s, "ca_file", ""));
  if (s["client_cert"]) c.http.tls.client_cert = cfg.resolve(config::get_string(s, "client_cert", ""));
  if (s["client_key"]) c.http.tls.client_key = cfg.resolve(config::get_string(s, "client_key", ""));
  c.http.connect_timeout = config::get_duration(s, "connect_timeout", c.http.connect_timeout);
  c.http.read_timeout = config::get_duration(s, "read_timeout", c.http.read_timeout);
  c.http.total_timeout = config::get_duration(s, "request_timeout", c.http.total_timeout);
  c.http.max_connections = static_cast<std::size_t>(config::get_int(s, "max_connections", 4, cfg.file, diags, 1));
  if (s["rate_limit"]) c.http.rate_per_second = s["rate_limit"].as<double>();
  c.http.max_response_bytes = config::get_size(s, "max_response_size", c.http.max_response_bytes);
  c.batch.max_items = static_cast<std::size_t>(config::get_int(s, "batch_size", 100, cfg.file, diags, 1));
  c.batch.max_wait = config::get_duration(s, "batch_wait", c.batch.max_wait);
}

// The WSDL form. Operation keys are checked with their positions; problems
// the contract finds are reported at the operation they belong to, in the same
// pass: a bad setting (an unknown bridge value, a bad not_found) is left out
// and the rest still checked against the contract. With `settings_ok`, the sink
// is returned even when a setting was bad (*settings_ok false), so `check` can
// go on to judge the mapping's fields against it; without, nullptr then.
std::unique_ptr<WsdlSoapSink> make_wsdl_sink(const config::DaemonConfig& cfg, const config::TargetSettings& t,
                                             core::Diagnostics& diags, bool report, bool create_only,
                                             bool* settings_ok) {
  const auto& s = t.settings;
  const std::string& file = cfg.file;
  auto at = [&](const YAML::Node& n, const std::string& message, const char* code) {
    if (!report) return;
    const auto p = n ? config::position_of(file, n) : config::Position{t.position.file, t.position.line, t.position.column};
    diags.error(p.file, p.line, p.column, "target '" + t.name + "': " + message, code);
  };
  WsdlSoapConfig c;
  c.name = t.name;
  c.wsdl = cfg.resolve(config::get_string(s, "wsdl", ""));
  c.service = config::get_string(s, "service", "");
  c.port = config::get_string(s, "port", "");
  c.url = config::get_string(s, "url", "");
  c.validate_response = config::get_bool(s, "validate_response", true);
  if (s["settle_time"]) c.settle_time = config::get_duration(s, "settle_time", std::chrono::milliseconds{0});
  c.attachments_path = config::get_string(s, "attachments_path", "");
  c.attachment_content = config::get_string(s, "attachment_content", "");
  c.attachment_content_reference = config::get_string(s, "attachment_content_reference", "");
  c.max_inline_bytes = config::get_size(s, "max_inline_attachment_size", c.max_inline_bytes);
  c.max_request_bytes = config::get_size(s, "max_request_size", c.max_request_bytes);
  c.attachment_reference = config::get_string(s, "attachment_reference", c.attachment_reference);
  if (const YAML::Node n = s["namespaces"]; n && n.IsMap())
    for (const auto& kv : n) c.namespaces.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  bool ok = true;
  for (const char* legacy : {"attachment_content_element", "attachment_reference_element"})
    if (s[legacy]) {
      at(s[legacy], std::string("'") + legacy + "' is the built-in shape's; with wsdl: attachment_content / attachment_content_reference (paths below the attachment element)", "config.bad_target");
      ok = false;
    }
  for (const char* legacy : {"schema", "root", "namespace", "prefix", "fields", "service_namespace", "soap_version"})
    if (s[legacy]) {
      at(s[legacy], std::string("'") + legacy + "' does not go with wsdl: the WSDL gives it (map fields by path in the mapping, values per operation)", "config.bad_target");
      ok = false;
    }
  auto op = [&](const char* key, WsdlOperationConfig& oc) {
    const YAML::Node n = s[key];
    if (!n) return;
    if (!n.IsMap()) {
      at(n, std::string(key) + ": a map {operation: Name, ...}", "config.bad_target");
      ok = false;
      return;
    }
    if (report && !config::check_map(n, kWsdlOperationSpec, file, diags)) ok = false;
    oc.operation = config::get_string(n, "operation", "");
    oc.reference = config::get_string(n, "reference", "");
    if (const YAML::Node f = n["fields"]; f && f.IsMap())
      for (const auto& kv : f) oc.fields.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
    if (const YAML::Node v = n["values"]; v && v.IsMap())
      for (const auto& kv : v) {
        const auto name = kv.second.IsScalar() ? kv.second.as<std::string>() : std::string();
        if (kv.second.IsMap() && kv.second.size() == 1 && kv.second["const"] && kv.second["const"].IsScalar()) {
          oc.constants.emplace_back(kv.first.as<std::string>(), kv.second["const"].as<std::string>());
        } else if (auto bv = bridge_value(name)) {
          oc.values.emplace_back(kv.first.as<std::string>(), *bv);
        } else {
          at(kv.second, std::string(key) + ".values: '" + name + "' is not a bridge value (external_reference, submission_id, version, legacy_reference, attachment_count, request_id) nor {const: TEXT}", "config.bad_target");
          ok = false;
        }
      }
    if (const YAML::Node oe = n["on_existing"]) {
      if (std::string(key) != "create") {
        at(oe, std::string(key) + ".on_existing: only for create", "config.bad_target");
        ok = false;
      } else if (!oe.IsMap() || !oe["fault"] || !oe["fault"].IsScalar() || oe.size() > 2 ||
                 (oe.size() == 2 && !(oe["reference"] && oe["reference"].IsScalar()))) {
        at(oe, "create.on_existing: {fault: Code, reference: XPath} (reference optional with a lookup)",
           "config.bad_target");
        ok = false;
      } else {
        oc.on_existing_fault = oe["fault"].as<std::string>();
        const auto colon = oc.on_existing_fault.rfind(':');
        if (colon != std::string::npos) oc.on_existing_fault.erase(0, colon + 1);
        if (oe["reference"]) oc.on_existing_reference = oe["reference"].as<std::string>();
      }
    }
    if (const YAML::Node nf = n["not_found"]) {
      if (std::string(key) != "lookup") {
        at(nf, std::string(key) + ".not_found: only for lookup", "config.bad_target");
        ok = false;
      } else if (nf.IsScalar() && nf.as<std::string>() == "nil") {
        oc.not_found = NotFound::nil;
      } else if (nf.IsScalar() && nf.as<std::string>() == "empty") {
        oc.not_found = NotFound::empty;
      } else if (nf.IsMap() && nf["fault"] && nf["fault"].IsScalar() && nf.size() == 1) {
        oc.not_found = NotFound::fault;
        oc.not_found_fault = nf["fault"].as<std::string>();
        const auto colon = oc.not_found_fault.rfind(':');
        if (colon != std::string::npos) oc.not_found_fault.erase(0, colon + 1);
      } else {
        at(nf, "lookup.not_found: empty, nil or {fault: Code}", "config.bad_target");
        ok = false;
      }
    }
  };
  op("create", c.create);
  if (!create_only) {
    op("update", c.update);
    op("lookup", c.lookup);
  }
  if (!s["create"] || c.create.operation.empty()) {
    if (!s["create"]) at({}, "create: {operation: ...} is required with wsdl", "config.bad_target");
    return nullptr;
  }
  if (settings_ok) *settings_ok = ok;
  try {
    read_common(cfg, s, c, diags);
    auto sink = std::make_unique<WsdlSoapSink>(std::move(c), core::AttachmentLocator{});
    if (!ok && !settings_ok) return nullptr;
    return sink;
  } catch (const ContractError& e) {
    for (const auto& [role, message] : e.problems) {
      // The key the problem is about, when it says (reset: rebinding, never assigning into the config tree).
      YAML::Node where;
      if (!role.empty()) where.reset(s[role]);
      for (const char* key : {"reference", "values", "fields"})
        if (where && where.IsMap() && message.rfind(std::string(key) + ":", 0) == 0) {
          const YAML::Node& op_node = where;
          if (const YAML::Node v = op_node[key]) where.reset(v);
        }
      at(where, (role.empty() ? "" : role + ": ") + message, "config.soap_contract");
    }
  } catch (const std::exception& e) {  // unreadable WSDL/schemas, TLS or secret files (never the secret)
    at(s["wsdl"], e.what(), "config.bad_target");
  }
  return nullptr;
}

std::unique_ptr<core::Sink> make_soap(const config::DaemonConfig& cfg, const config::TargetSettings& t,
                                      std::vector<std::string> columns, core::AttachmentLocator locator,
                                      core::Diagnostics& diags) {
  const auto& s = t.settings;
  if (s["wsdl"]) {
    bool settings_ok = true;
    auto sink = make_wsdl_sink(cfg, t, diags, true, false, &settings_ok);
    if (!sink) return nullptr;
    if (!settings_ok) {
      sink->check_contract(columns, t.position.file, t.position.line, t.position.column, diags);
      return nullptr;
    }
    // check_contract runs in apply_operations, with the mappings' operations: sections.
    sink->set_locator(std::move(locator));
    return sink;
  }
  for (const char* key : {"url", "schema", "root"})
    if (!s[key]) {
      diags.error(t.position.file, t.position.line, t.position.column,
                  "target '" + t.name + "': '" + key + "' is required (or give wsdl:)", "yaml.missing_key");
      return nullptr;
    }
  SoapConfig c;
  try {
    c.name = t.name;
    c.url = config::get_string(s, "url", "");
    c.version = config::get_string(s, "soap_version", "1.1") == "1.2" ? SoapVersion::v12 : SoapVersion::v11;
    c.schema = cfg.resolve(config::get_string(s, "schema", ""));
    c.layout = layout_from(s, "root");
    c.service_namespace = config::get_string(s, "service_namespace", c.service_namespace);
    if (s["namespaces"] && s["namespaces"].IsMap())
      for (const auto& kv : s["namespaces"]) c.namespaces.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
    auto op = [&](const char* key, SoapOperation d) {
      const YAML::Node n = s[key];
      if (!n || !n.IsMap()) return d;
      return SoapOperation{config::get_string(n, "operation", d.name), config::get_string(n, "soap_action", d.soap_action),
                                 config::get_string(n, "reference_xpath", d.reference_xpath)};
    };
    c.create = op("create", c.create);
    c.update = op("update", {});
    c.lookup = op("lookup", {});
    read_common(cfg, s, c, diags);
    c.attachment_content_element = config::get_string(s, "attachment_content_element", c.attachment_content_element);
    c.attachment_reference_element = config::get_string(s, "attachment_reference_element", c.attachment_reference_element);
    c.max_inline_bytes = config::get_size(s, "max_inline_attachment_size", c.max_inline_bytes);
    c.max_request_bytes = config::get_size(s, "max_request_size", c.max_request_bytes);
    if (s["settle_time"]) c.settle_time = config::get_duration(s, "settle_time", std::chrono::milliseconds{0});
    c.attachment_reference = config::get_string(s, "attachment_reference", c.attachment_reference);
    return std::make_unique<SoapSink>(std::move(c), std::move(locator));
  } catch (const std::exception& e) {  // bad URL/XPath/layout, unreadable XSD, TLS or secret files (never the secret)
    diags.error(t.position.file, t.position.line, t.position.column, "target '" + t.name + "': " + e.what(),
                "config.bad_target");
    return nullptr;
  }
}

}  // namespace

config::SinkType sink_type() {
  config::SinkType t{"soap", kSoapSpec, make_soap, {}};
  t.field_check = xml_field_check;
  // Mappings' operations: sections, for WSDL targets only.
  t.operation_check = [](const config::DaemonConfig& cfg, const config::TargetSettings& target)
      -> std::function<std::optional<std::string>(const std::string&, const std::string&)> {
    if (!target.settings["wsdl"]) return {};
    try {
      core::Diagnostics ignored;
      std::shared_ptr<const WsdlSoapSink> sink = make_wsdl_sink(cfg, target, ignored, false);
      if (!sink) return [](const std::string&, const std::string&) { return std::optional<std::string>(); };
      return [sink](const std::string& op, const std::string& path) { return sink->check_operation_path(op, path); };
    } catch (const std::exception&) {
      return {};
    }
  };
  t.apply_operations = [](core::Sink& sink, const config::SinkType::OperationSections& sections,
                          const std::vector<std::string>& columns, const config::TargetSettings& target,
                          core::Diagnostics& diags) {
    auto* wsdl_sink = dynamic_cast<WsdlSoapSink*>(&sink);
    if (!wsdl_sink) return;
    wsdl_sink->set_mapping_operations(sections);
    const auto& p = target.position;
    if (sections.empty()) wsdl_sink->check_contract(columns, p.file, p.line, p.column, diags);
    for (const auto& [mapping, ops] : sections)  // each mapping's view of the operations
      wsdl_sink->check_contract(columns, p.file, p.line, p.column, diags, mapping);
  };
  return t;
}

}  // namespace reportbridge::soap
