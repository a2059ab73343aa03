#pragma once
// Classification of one SOAP exchange into a delivery outcome (pure; table
// tested). See docs/sinks/soap.md "Classification".
//
//   transport error before the request was sent (connect, TLS, write) -> retry
//   timeout / reset / malformed HTTP after the request was sent     -> retry, in_doubt
//   response body over the size limit                              -> reject bad_response
//   SOAP Fault wsse:FailedAuthentication, wsse:InvalidSecurity, ...
//     (as the code or the SOAP 1.2 subcode)                        -> reject auth_failed
//   SOAP Fault Client/Sender (incl. "Client.X"), VersionMismatch,
//     MustUnderstand, DataEncodingUnknown                           -> reject soap_client_fault
//   SOAP Fault Server/Receiver (or any other code)                  -> retry soap_server_fault
//   408, 429, 503 (Retry-After honoured), other 5xx                 -> retry
//   401, 403                                                        -> reject auth_failed
//   other 4xx, 3xx, 1xx                                             -> reject http_status
//   2xx: unparseable/hostile XML (DOCTYPE, entities, too large)     -> reject bad_response
//   2xx without the configured reference                            -> reject no_reference
//   2xx with the reference                                          -> delivered
// A response that is rejected after a 2xx may mean the target holds the record:
// the detail says so and the dead letter carries it.
#include <optional>
#include <string>
#include <string_view>

#include "bridge/core/sink.hpp"
#include "bridge/net/http_client.hpp"
#include "bridge/xml/safe_parse.hpp"

namespace reportbridge::soap {

struct SoapFault {
  std::string code;     // local part, e.g. "Client", "Client.Authentication", "Sender", "Receiver"
  std::string subcode;  // SOAP 1.2 Subcode value (local part), if any
  std::string reason;   // faultstring / Reason Text, truncated to 200 characters
  bool client() const;  // the sender's fault: permanent
  bool auth() const;    // a WS-Security fault (wsse:FailedAuthentication, InvalidSecurity, ...)
  // The code, the subcode or a SOAP 1.1 dotted suffix (Client.X) is `name`.
  bool is(std::string_view name) const;
};

// The Fault in a SOAP 1.1 or 1.2 envelope, if the document is one.
std::optional<SoapFault> find_fault(const xmlDoc& doc);

struct ResponseReading {
  core::DeliveryOutcome outcome;
  xml::DocPtr doc;  // the parsed response body when the outcome is delivered
};

// Classifies `response`. On a 2xx without fault, `reference` (may be null)
// is evaluated on the body: empty result -> reject no_reference unless
// `reference_optional`. max_bytes limits the parse.
ResponseReading classify(const net::Response& response, const xml::XPathQuery* reference,
                         bool reference_optional, std::size_t max_bytes);

}  // namespace reportbridge::soap
