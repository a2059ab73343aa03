#include "adapters/sinks/soap/soap_classify.hpp"

#include "bridge/net/retry_after.hpp"

namespace reportbridge::soap {

namespace {

using core::DeliveryOutcome;
using core::DeliveryStatus;

constexpr const char* kSoap11 = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr const char* kSoap12 = "http://www.w3.org/2003/05/soap-envelope";

std::string local_part(std::string qname) {
  const auto colon = qname.rfind(':');
  if (colon != std::string::npos) qname.erase(0, colon + 1);
  while (!qname.empty() && (qname.back() == ' ' || qname.back() == '\n' || qname.back() == '\t')) qname.pop_back();
  while (!qname.empty() && (qname.front() == ' ' || qname.front() == '\n' || qname.front() == '\t')) qname.erase(0, 1);
  return qname;
}

std::string truncated(std::string s) {
  if (s.size() > 200) {
    s.resize(200);
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();  // UTF-8 boundary
    if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
    s += "...";
  }
  return s;
}

struct FaultQueries {
  xml::XPathQuery code11{"/e:Envelope/e:Body/e:Fault/faultcode", {{"e", kSoap11}}};
  xml::XPathQuery reason11{"/e:Envelope/e:Body/e:Fault/faultstring", {{"e", kSoap11}}};
  xml::XPathQuery code12{"/e:Envelope/e:Body/e:Fault/e:Code/e:Value", {{"e", kSoap12}}};
  xml::XPathQuery sub12{"/e:Envelope/e:Body/e:Fault/e:Code/e:Subcode/e:Value", {{"e", kSoap12}}};
  xml::XPathQuery reason12{"/e:Envelope/e:Body/e:Fault/e:Reason/e:Text", {{"e", kSoap12}}};
};

const FaultQueries& queries() {
  static const FaultQueries q;
  return q;
}

DeliveryOutcome with_retry_after(DeliveryOutcome o, const net::Response& r) {
  const std::string value = r.header("Retry-After");
  if (!value.empty())
    if (auto d = net::parse_retry_after(value)) o.retry_after = *d;
  return o;
}

}  // namespace

bool SoapFault::client() const {
  const std::string head = code.substr(0, code.find('.'));
  return head == "Client" || head == "Sender" || head == "VersionMismatch" || head == "MustUnderstand" ||
         head == "DataEncodingUnknown";
}

bool SoapFault::auth() const {
  // WS-Security 1.0 fault codes (wsse:...) that mean the credentials were refused.
  for (const std::string* c : {&code, &subcode})
    if (*c == "FailedAuthentication" || *c == "InvalidSecurity" || *c == "InvalidSecurityToken" ||
        *c == "FailedCheck" || *c == "SecurityTokenUnavailable" || *c == "UnsupportedSecurityToken")
      return true;
  return false;
}

bool SoapFault::is(std::string_view name) const {
  if (name.empty()) return false;
  if (code == name || subcode == name) return true;
  const auto dot = code.rfind('.');  // SOAP 1.1 dotted codes: Client.RecordNotFound
  return dot != std::string::npos && std::string_view(code).substr(dot + 1) == name;
}

std::optional<SoapFault> find_fault(const xmlDoc& doc) {
  const auto& q = queries();
  if (auto code = q.code11.first_string(doc))
    return SoapFault{local_part(*code), {}, truncated(q.reason11.first_string(doc).value_or(""))};
  if (auto code = q.code12.first_string(doc))
    return SoapFault{local_part(*code), local_part(q.sub12.first_string(doc).value_or("")),
                     truncated(q.reason12.first_string(doc).value_or(""))};
  return std::nullopt;
}

ResponseReading classify(const net::Response& r, const xml::XPathQuery* reference, bool reference_optional,
                         std::size_t max_bytes) {
  ResponseReading out;
  auto fail = [&](DeliveryStatus s, const char* code, std::string detail) {
    out.outcome = DeliveryOutcome::fail(s, code, std::move(detail));
    return ResponseReading{out.outcome, nullptr};
  };
  using net::ErrorKind;
  switch (r.error) {
    case ErrorKind::none:
      break;
    case ErrorKind::connect:
      return fail(DeliveryStatus::retry, "connect_failed", r.error_detail);
    case ErrorKind::tls_verify:
      return fail(DeliveryStatus::retry, "tls_verify_failed", r.error_detail);
    case ErrorKind::send:
      return fail(DeliveryStatus::retry, "send_failed", r.error_detail);
    case ErrorKind::body_source:
      return fail(DeliveryStatus::retry, "attachment_unavailable", r.error_detail);
    case ErrorKind::timeout:
    case ErrorKind::reset:
    case ErrorKind::protocol: {
      const char* code = r.error == ErrorKind::timeout ? "timeout"
                         : r.error == ErrorKind::reset ? "connection_reset"
                                                       : "protocol_error";
      fail(DeliveryStatus::retry, code, r.error_detail + " (after the request was sent: in doubt)");
      out.outcome.in_doubt = true;
      return out;
    }
    case ErrorKind::too_large:
      return fail(DeliveryStatus::reject, "bad_response",
                  "response larger than the limit; the target may hold the record");
  }

  const int status = r.status;
  xml::ParseResult parsed;
  const bool xml_body = !r.body.empty() && r.body.find('<') != std::string::npos;
  if (xml_body) parsed = xml::parse_untrusted(r.body, xml::ParseLimits{max_bytes});
  if (parsed) {
    if (auto fault = find_fault(*parsed.doc)) {
      std::string detail = "SOAP fault " + fault->code + (fault->subcode.empty() ? "" : "/" + fault->subcode) +
                           " (HTTP " + std::to_string(status) + "): " + fault->reason;
      if (fault->auth())
        return fail(DeliveryStatus::reject, "auth_failed",
                    std::move(detail) + "; not retried per item: fix the credentials, then replay");
      if (fault->client()) return fail(DeliveryStatus::reject, "soap_client_fault", std::move(detail));
      fail(DeliveryStatus::retry, "soap_server_fault", std::move(detail));
      out.outcome = with_retry_after(std::move(out.outcome), r);
      return out;
    }
  }
  const std::string http = "HTTP " + std::to_string(status);
  if (status == 408 || status == 429 || status >= 500) {
    fail(DeliveryStatus::retry, status >= 500 ? "http_5xx" : "http_throttled", http);
    out.outcome = with_retry_after(std::move(out.outcome), r);
    return out;
  }
  if (status == 401 || status == 403) return fail(DeliveryStatus::reject, "auth_failed", http);
  if (status < 200 || status >= 300) return fail(DeliveryStatus::reject, "http_status", http);

  if (!parsed) {
    std::string why = xml_body ? parsed.reason + ": " + xml::join_errors(parsed.errors, 2) : "empty or not XML";
    return fail(DeliveryStatus::reject, "bad_response",
                "unusable " + http + " response (" + why + "); the target may hold the record");
  }
  std::string ref;
  if (reference) ref = reference->first_string(*parsed.doc).value_or("");
  if (ref.empty() && reference && !reference_optional)
    return fail(DeliveryStatus::reject, "no_reference",
                "no reference at " + reference->expression() + " in the " + http +
                    " response; the target may hold the record");
  out.outcome = DeliveryOutcome::ok(std::move(ref));
  out.doc = std::move(parsed.doc);
  return out;
}

}  // namespace reportbridge::soap
