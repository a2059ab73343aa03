#pragma once
// WSDL-driven SOAP sink: the legacy system's own WSDL 1.1 is the contract.
// See docs/sinks/soap.md ("WSDL targets").
//
// From the WSDL (bridge/wsdl), for each configured operation (create, update,
// lookup) of the chosen service/port: SOAP version, SOAPAction, endpoint (the
// target's `url` overrides it), style (document/literal wrapped or bare), the
// input body and header elements, the output elements, the schema set of
// wsdl:types (local xs:import/xs:include followed).
//
// Request: every input element (body part, header part) gets its own
// xml::XmlRenderer rooted at its global element. A value goes to a path:
//   - "p:A/p:B", "@attr", "A[2]/B", ... (bridge/xml/schema_paths.hpp) inside
//     the operation's only body element (the wrapper when wrapped);
//   - with several body elements (or rpc parts): the first step names the
//     element ("inc:IncidentReport/inc:Title", "entry/place/postcode");
//   - "soap:Header/hdr:CallingSystem/hdr:SystemId": inside a header element
//     ("soap:Header/ctx:RecordReference" alone: a simple-typed header's text).
// Values: the record's fields (the mapping's field names are paths; an
// operation's `fields` map renames a record field to another path for that
// operation) and the bridge's own values per operation (`values`: path ->
// external_reference "<submission_id>:<version>", submission_id, version,
// legacy_reference (the stored reference, update only), attachment_count,
// request_id (a random UUID per request)) and fixed texts (`values: {path:
// {const: TEXT}}`). Attachments (attachments_path): one element per
// attachment with its metadata, and with attachment_content its file inline as
// base64 (checked against the declared size and SHA-256 first, then streamed
// by the HTTP client in chunks, never held whole), or by reference when larger
// than max_inline_bytes.
// Create and update send every record field; lookup only its `fields`.
// Each rendered element is validated against the schema set before sending;
// an invalid one is rejected (schema_invalid, libxml2's message, line of the
// pretty envelope) and never sent.
//
// Response: SOAP faults classified as in soap_classify.hpp (wsse auth faults
// and HTTP 401/403 reject auth_failed; client faults reject; server faults
// and 5xx retry). A 2xx answer's body elements are validated against the
// output schema (validate_response: false skips this), then `reference`, an
// XPath compiled with the target's namespace map (unknown prefix: config
// error), evaluated with soap:Body as the context node, gives the legacy
// reference. Lookup: an empty result (absent, empty or xsi:nil element) is
// "not found"; `not_found: {fault: Code}` also reads a fault with that code,
// subcode or dotted suffix as "not found".
//
// In doubt (#17.1): an item that may have reached the target (timeout,
// dropped connection, a restart mid-batch) is never sent again, nor looked up,
// before settle_time has passed since its last send (after a restart: since
// the sink first saw it). Until then it is deferred (retry, not counted as an
// attempt). Then the lookup decides: found -> delivered with that reference;
// not found -> sent again. Without lookup: in_doubt resend|hold.
//
// deliver() must not run concurrently on one instance.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/sinks/soap/soap_sink.hpp"
#include "bridge/core/diagnostics.hpp"
#include "bridge/wsdl/wsdl.hpp"

namespace reportbridge::soap {

enum class BridgeValue { external_reference, submission_id, version, legacy_reference, attachment_count, request_id };
// nullopt for an unknown name.
std::optional<BridgeValue> bridge_value(const std::string& name);
const char* to_string(BridgeValue v);

enum class NotFound { empty, nil, fault };

struct WsdlOperationConfig {
  std::string operation;  // empty: not offered
  std::string reference;  // XPath, context soap:Body; prefixes from `namespaces`
  // lookup only
  NotFound not_found = NotFound::empty;
  std::string not_found_fault;  // NotFound::fault: the fault's code / subcode / dotted suffix
  // record field name -> path in this operation's input ("": not sent in this operation)
  std::vector<std::pair<std::string, std::string>> fields;
  // path in this operation's input -> bridge value
  std::vector<std::pair<std::string, BridgeValue>> values;
  // path in this operation's input -> fixed text (e.g. a calling-system id)
  std::vector<std::pair<std::string, std::string>> constants;
  // create only: the target refuses a second record with the same external
  // reference with this fault (code, subcode or dotted suffix); the existing
  // record's reference is at on_existing_reference (XPath, context soap:Body),
  // or, without it, found by the lookup. Such a create is safe to resend: an
  // in-doubt create is sent again at once (no settle time, no lookup first).
  std::string on_existing_fault;
  std::string on_existing_reference;
};

struct WsdlSoapConfig {
  std::string name;
  std::filesystem::path wsdl;
  std::string service, port;  // empty: the only one offering the operations
  std::string url;            // empty: the port's soap:address
  xml::Namespaces namespaces;  // for paths and XPaths; "soap" is predefined (the envelope namespace)
  WsdlOperationConfig create, update, lookup;
  bool validate_response = true;
  std::optional<std::chrono::milliseconds> settle_time;  // default: request_timeout + read_timeout
  InDoubtPolicy in_doubt = InDoubtPolicy::resend;        // without a lookup operation
  std::string attachments_path;  // body path of the repeated attachment element ("" : none)
  // Below the attachment element: the file's base64 content (an
  // xs:base64Binary element or attribute), streamed from disk while sending,
  // for attachments of at most max_inline_bytes ("": metadata only) ...
  std::string attachment_content;
  // ... and the reference text (attachment_reference) for larger ones ("":
  // a larger attachment is rejected attachment_too_large when
  // attachment_content is set).
  std::string attachment_content_reference;
  std::uint64_t max_inline_bytes = 10ull << 20;
  // The largest request the target accepts (0: no limit): attachments are
  // inlined while the request stays within it, the others go by reference;
  // a request still larger is rejected request_too_large, unsent.
  std::uint64_t max_request_bytes = 0;
  std::string attachment_reference = "{id}";  // {id} {sha256} {path} {submission_id}

  std::string username;
  std::filesystem::path password_file;
  bool basic_auth = false;
  WsseMode wsse = WsseMode::none;
  net::HttpClientConfig http;
  core::BatchPolicy batch{100, std::chrono::milliseconds{1000}};
};

// What the constructor throws when the configuration does not fit the
// contract: every problem found, each with the operation role it belongs to
// ("create", "update", "lookup"; "" for the target).
struct ContractError : std::invalid_argument {
  std::vector<std::pair<std::string, std::string>> problems;  // role, message
  explicit ContractError(std::vector<std::pair<std::string, std::string>> p);
};

class WsdlSoapSink : public core::Sink {
 public:
  // Throws std::invalid_argument (the message names the setting: unknown
  // operation/service/port with what exists, paths that do not resolve, all
  // of them, XPaths with undeclared prefixes, ...) and std::runtime_error
  // (files that cannot be read).
  WsdlSoapSink(WsdlSoapConfig config, core::AttachmentLocator locator);
  ~WsdlSoapSink() override;

  const std::string& name() const override;
  core::BatchPolicy batch_policy() const override;
  // preview_all (throws the reject detail when the create would be rejected).
  std::string encode_preview(const core::TargetRecord& record) const override;
  std::string encode_preview_with_reference(const core::TargetRecord& record,
                                            const std::string& prior_reference) const override;
  // The envelope of each configured operation, titled "== create: Op (SOAPAction ...)".
  // The update carries `prior_reference`; empty: a made-up value that fits the
  // type of the element it goes to (its enumeration, length and pattern
  // facets), said so in the title.
  std::string preview_all(const core::TargetRecord& record, const std::string& prior_reference = {}) const;
  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override;
  // Each item's outcome as soon as its call answers (a slow call holds its own item only).
  void deliver_each(const core::DeliveryBatch& batch, const OutcomeReport& report) override;
  bool reports_each() const override { return true; }
  std::size_t concurrency() const override { return config().http.max_connections; }
  void share_limits(const core::FleetLimitsFactory& make) override;
  bool updates_by_reference() const override { return true; }
  // Fields `from: bridge.legacy_reference`: the update sends each resolved
  // from the item's prior reference (create and lookup: no value).
  void set_deferred_fields(core::DeferredFields fields) override;

  // For `check`: each field name resolves in the create (and update) input,
  // else why. nullopt: fine.
  std::optional<std::string> check_field(const std::string& field_name) const;
  // For `check`, with the field names the mappings give this target:
  // required input elements no field or value fills; a sample request per
  // operation rendered and validated. Problems as diagnostics at `where`.
  // With `mapping`: as that mapping's operations: section places the fields.
  void check_contract(const std::vector<std::string>& field_names, const std::string& file, int line, int column,
                      core::Diagnostics& diags, const std::string& mapping = {}) const;

  // For `check` of a mapping's `operations:` section: the path resolves in
  // that operation's input, else why. nullopt: fine.
  std::optional<std::string> check_operation_path(const std::string& operation, const std::string& path) const;
  // The mappings' `operations:` sections (mapping name -> operation -> field
  // -> path, "": not sent): for a record of that mapping they come before the
  // operation's own `fields`. Call before deliver().
  using OperationSections =
      std::map<std::string, std::map<std::string, std::vector<std::pair<std::string, std::string>>>>;
  void set_mapping_operations(OperationSections sections);

  void set_locator(core::AttachmentLocator locator);
  const WsdlSoapConfig& config() const;
  std::chrono::milliseconds settle_time() const;
  std::uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::soap
