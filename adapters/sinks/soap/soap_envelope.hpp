#pragma once
// SOAP 1.1 / 1.2 envelopes built with libxml2, and WS-Security UsernameToken
// (OASIS Username Token Profile 1.0: PasswordText, PasswordDigest =
// Base64(SHA-1(nonce + created + password))).
#include <libxml/tree.h>

#include <string>
#include <string_view>

#include "bridge/xml/xml_document.hpp"

namespace reportbridge::soap {

enum class SoapVersion { v11, v12 };

inline constexpr const char* kSoap11Namespace = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr const char* kSoap12Namespace = "http://www.w3.org/2003/05/soap-envelope";
inline constexpr const char* kWsseNamespace =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
inline constexpr const char* kWsuNamespace =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

const char* envelope_namespace(SoapVersion v);
// 1.1: "text/xml; charset=utf-8" (the action goes in the SOAPAction header);
// 1.2: "application/soap+xml; charset=utf-8; action=\"...\"" (action omitted when empty).
std::string content_type(SoapVersion v, const std::string& action);

struct UsernameToken {
  std::string username;
  std::string password_value;  // the password (text) or its digest
  bool digest = false;
  std::string nonce_base64;    // digest only
  std::string created;         // digest only, "2026-11-27T18:42:10Z"
};

// Base64(SHA-1(nonce + created + password)).
std::string password_digest(std::string_view nonce, std::string_view created, std::string_view password);
// A token with a fresh 16-byte nonce and the current time for digests.
UsernameToken make_username_token(const std::string& username, const std::string& password, bool digest);

struct Envelope {
  xml::DocPtr doc;
  xmlNode* operation = nullptr;  // <svc:Operation> inside Body
};

struct EnvelopeFrame {
  xml::DocPtr doc;
  xmlNode* header = nullptr;  // soap:Header (with wsse:Security when a token is given), else null
  xmlNode* body = nullptr;    // soap:Body, empty
};

// <soap:Envelope>[<soap:Header>[wsse:Security]</soap:Header>]<soap:Body/>: the
// Header is there with a token or when `with_header`.
EnvelopeFrame make_frame(SoapVersion v, const UsernameToken* token, bool with_header);

// <soap:Envelope><soap:Header>[wsse:Security]</soap:Header><soap:Body>
// <svc:operation xmlns:svc="service_namespace"/></soap:Body></soap:Envelope>.
// The Header is omitted without a token.
Envelope make_envelope(SoapVersion v, const UsernameToken* token, const std::string& service_namespace,
                       const std::string& operation);

// Appends <svc:name>text</svc:name> (the parent's namespace) to `parent`.
xmlNode* add_child(xmlNode& parent, const std::string& name, const std::string& text);

}  // namespace reportbridge::soap
