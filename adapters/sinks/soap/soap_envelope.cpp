#include "adapters/sinks/soap/soap_envelope.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <chrono>
#include <ctime>
#include <new>
#include <stdexcept>

namespace reportbridge::soap {

namespace {

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::string base64_decode(const std::string& b64) {
  std::string out(b64.size() / 4 * 3 + 3, '\0');
  const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (len < 0) return {};
  std::size_t n = static_cast<std::size_t>(len);
  if (b64.size() >= 1 && b64[b64.size() - 1] == '=') --n;
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=') --n;
  out.resize(n);
  return out;
}

}  // namespace

const char* envelope_namespace(SoapVersion v) { return v == SoapVersion::v11 ? kSoap11Namespace : kSoap12Namespace; }

std::string content_type(SoapVersion v, const std::string& action) {
  if (v == SoapVersion::v11) return "text/xml; charset=utf-8";
  std::string t = "application/soap+xml; charset=utf-8";
  if (!action.empty()) t += "; action=\"" + action + "\"";
  return t;
}

std::string password_digest(std::string_view nonce, std::string_view created, std::string_view password) {
  std::string input;
  input.reserve(nonce.size() + created.size() + password.size());
  input.append(nonce).append(created).append(password);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
  OPENSSL_cleanse(input.data(), input.size());
  return base64(md, sizeof md);
}

UsernameToken make_username_token(const std::string& username, const std::string& password, bool digest) {
  UsernameToken t;
  t.username = username;
  t.digest = digest;
  if (!digest) {
    t.password_value = password;
    return t;
  }
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) throw std::runtime_error("no randomness for the WS-Security nonce");
  t.nonce_base64 = base64(nonce, sizeof nonce);
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  t.created = buf;
  t.password_value = password_digest(base64_decode(t.nonce_base64), t.created, password);
  return t;
}

EnvelopeFrame make_frame(SoapVersion v, const UsernameToken* token, bool with_header) {
  xml::init();
  EnvelopeFrame e;
  e.doc.reset(xmlNewDoc(X("1.0")));
  if (!e.doc) throw std::bad_alloc();
  xmlNode* env = xmlNewDocNode(e.doc.get(), nullptr, X("Envelope"), nullptr);
  xmlDocSetRootElement(e.doc.get(), env);
  xmlNs* soap = xmlNewNs(env, X(envelope_namespace(v)), X("soap"));
  xmlSetNs(env, soap);
  if (token || with_header) e.header = xmlNewChild(env, soap, X("Header"), nullptr);
  if (token) {
    xmlNode* security = xmlNewChild(e.header, nullptr, X("Security"), nullptr);
    xmlNs* wsse = xmlNewNs(security, X(kWsseNamespace), X("wsse"));
    xmlSetNs(security, wsse);
    xmlNewNsProp(security, soap, X("mustUnderstand"), X(v == SoapVersion::v11 ? "1" : "true"));
    xmlNode* ut = xmlNewChild(security, wsse, X("UsernameToken"), nullptr);
    xmlNewTextChild(ut, wsse, X("Username"), X(token->username.c_str()));
    xmlNode* pw = xmlNewTextChild(ut, wsse, X("Password"), X(token->password_value.c_str()));
    const std::string profile =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#";
    xmlNewProp(pw, X("Type"), X((profile + (token->digest ? "PasswordDigest" : "PasswordText")).c_str()));
    if (token->digest) {
      xmlNode* nonce = xmlNewTextChild(ut, wsse, X("Nonce"), X(token->nonce_base64.c_str()));
      xmlNewProp(nonce, X("EncodingType"),
                 X("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"));
      xmlNode* created = xmlNewTextChild(ut, nullptr, X("Created"), X(token->created.c_str()));
      xmlSetNs(created, xmlNewNs(created, X(kWsuNamespace), X("wsu")));
    }
  }
  e.body = xmlNewChild(env, soap, X("Body"), nullptr);
  return e;
}

Envelope make_envelope(SoapVersion v, const UsernameToken* token, const std::string& service_namespace,
                       const std::string& operation) {
  EnvelopeFrame f = make_frame(v, token, false);
  Envelope e;
  e.operation = xmlNewChild(f.body, nullptr, X(operation.c_str()), nullptr);
  xmlSetNs(e.operation, xmlNewNs(e.operation, X(service_namespace.c_str()), X("svc")));
  e.doc = std::move(f.doc);
  return e;
}

xmlNode* add_child(xmlNode& parent, const std::string& name, const std::string& text) {
  return xmlNewTextChild(&parent, parent.ns, X(name.c_str()), X(text.c_str()));
}

}  // namespace reportbridge::soap
