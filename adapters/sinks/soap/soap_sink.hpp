#pragma once
// SOAP sink: delivers each record as one SOAP 1.1 / 1.2 call to a legacy
// system (create, or update against the reference of an earlier version), over
// HTTP(S) with net::HttpClient. See docs/sinks/soap.md.
//
// Request: <soap:Envelope> [Header: wsse:Security UsernameToken] <soap:Body>
//   <svc:{operation} xmlns:svc="{service_namespace}">
//     <svc:LegacyReference>{prior reference}</svc:LegacyReference>   (update only)
//     <svc:ExternalReference>{submission_id}:{version}</svc:ExternalReference>
//     <svc:Report> the record rendered by xml::XmlRenderer </svc:Report>
//   </svc:{operation}>
// The rendered document is validated against `schema` first; an invalid one is
// rejected (schema_invalid, libxml2's message and line in the encode_preview
// rendering) and never sent.
//
// Per item (deliver):
// - in_doubt && lookup configured: call the lookup operation with the
//   ExternalReference first; found -> delivered with that reference (nothing
//   sent again); not found -> sent as usual; lookup failed -> retry, in_doubt.
// - in_doubt without lookup: `in_doubt: resend` sends again (the target may get
//   it twice), `hold` rejects with reason "in_doubt" for an operator to check
//   and replay.
// - prior_reference set: the update operation with it (no update operation
//   configured -> reject "update_unsupported").
// - Outcome from soap_classify.hpp; a failure after the request was sent is a
//   retry with in_doubt = true. latency_ms is the HTTP exchange's time.
// Idempotence per batch key follows from the lookup: a batch handed again
// after a crash has its items marked in_doubt, and each is looked up before it
// is sent. Without a lookup operation the in_doubt policy decides.
//
// Attachments (layout.attachments_path set): for each attachment element the
// sink appends, as its last child in the attachment element's namespace,
// - <{attachment_content_element}> base64 of the file, streamed from disk in
//   48 KiB chunks while sending, when size <= max_inline_bytes (the file is
//   checked first: size and SHA-256 as declared, else reject
//   attachment_mismatch; the locator failing transiently (AttachmentError
//   `unavailable`, e.g. HTTP store 503, or std::system_error) -> retry
//   attachment_unavailable; a permanent AttachmentError -> reject with its
//   code; otherwise unresolvable -> reject attachment_unavailable);
// - otherwise <{attachment_reference_element}> with attachment_reference
//   ("{id}", "{sha256}", "{path}", "{submission_id}" substituted).
// Larger than max_inline_bytes without a reference element: reject
// attachment_too_large. Both element names empty: metadata only, no content.
// The target XSD must allow these elements there.
//
// Responses are parsed with xml::parse_untrusted (no DTD, entities or network;
// max_response_bytes). Secrets come from files and are never logged.
// deliver() must not run concurrently on one instance.
#include <chrono>
#include <optional>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "adapters/sinks/soap/soap_driver.hpp"
#include "adapters/sinks/soap/soap_envelope.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/net/http_client.hpp"
#include "bridge/xml/safe_parse.hpp"
#include "bridge/xml/xml_renderer.hpp"

namespace reportbridge::soap {

enum class WsseMode { none, text, digest };

struct SoapOperation {
  std::string name;             // element in service_namespace; empty: not offered
  std::string soap_action;      // SOAPAction (1.1) / action parameter (1.2)
  std::string reference_xpath;  // legacy reference in the response (prefixes from `namespaces`)
};

struct SoapConfig {
  std::string name;  // target name
  std::string url;   // endpoint, http:// or https://
  SoapVersion version = SoapVersion::v11;
  std::filesystem::path schema;  // XSD (with its includes/imports) or WSDL of the Report document
  xml::XmlLayout layout;         // how a record becomes the Report document
  std::string service_namespace = "urn:reportbridge:rms:service:1";
  // Prefixes for the XPaths. "svc" (service_namespace), "soap" (the envelope
  // namespace of `version`), "soap11" and "soap12" are predefined.
  xml::Namespaces namespaces;
  SoapOperation create{"CreateCommunityReport", "", "//svc:CreateCommunityReportResponse/svc:LegacyReference"};
  SoapOperation update;  // e.g. {"UpdateCommunityReport", "", "//svc:UpdateCommunityReportResponse/svc:LegacyReference"}
  SoapOperation lookup;  // e.g. {"FindByExternalReference", "", "//svc:FindByExternalReferenceResponse/svc:LegacyReference"}
  InDoubtPolicy in_doubt = InDoubtPolicy::resend;
  // An in-doubt item is neither looked up nor resent before this has passed
  // since its last send (after a restart: since the sink first saw it), so
  // the lookup never races a request the target may still be processing.
  // Default: request_timeout + read_timeout (#17).
  std::optional<std::chrono::milliseconds> settle_time;

  // Authentication. The password comes from password_file.
  std::string username;
  std::filesystem::path password_file;
  bool basic_auth = false;
  WsseMode wsse = WsseMode::none;

  net::HttpClientConfig http;  // base_url is taken from `url`

  // Attachments
  std::string attachment_content_element = "Content";
  std::string attachment_reference_element = "ContentReference";
  std::uint64_t max_inline_bytes = 10ull << 20;
  // The largest request the target accepts (0: no limit). Attachments are
  // inlined in order while the request stays within it, the rest go by
  // reference; a request still larger is rejected request_too_large, unsent.
  std::uint64_t max_request_bytes = 0;
  std::string attachment_reference = "{id}";

  core::BatchPolicy batch{100, std::chrono::milliseconds{1000}};
};

class SoapSink : public core::Sink {
 public:
  // Throws std::invalid_argument for an invalid configuration (URL, layout not
  // in the schema, XPath, auth without username/password file) and
  // std::runtime_error when the XSD, TLS files or the password file cannot be
  // loaded.
  SoapSink(SoapConfig config, core::AttachmentLocator locator);
  ~SoapSink() override;

  const std::string& name() const override;
  core::BatchPolicy batch_policy() const override;

  // The create (or, never here, update) envelope, pretty-printed. Inline
  // attachment content shows as "(base64 of attachment <id>, <n> bytes)", a
  // WS-Security password as "[redacted]". Throws std::runtime_error with the
  // reject detail when the record would be rejected (render or schema error).
  std::string encode_preview(const core::TargetRecord& record) const override;

  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override;
  // Each item's outcome as soon as its call answers (a slow call holds its own item only).
  void deliver_each(const core::DeliveryBatch& batch, const OutcomeReport& report) override;
  bool reports_each() const override { return true; }
  std::size_t concurrency() const override { return config().http.max_connections; }
  void share_limits(const core::FleetLimitsFactory& make) override;
  // A later version goes as the update operation against the stored reference.
  bool updates_by_reference() const override { return true; }

  const SoapConfig& config() const;
  std::uint64_t connections_opened() const;
  std::chrono::milliseconds settle_time() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "<submission_id>:<version>": the ExternalReference sent and looked up.
std::string external_reference(const core::TargetRecord& record);

}  // namespace reportbridge::soap
