#include "adapters/sinks/soap/soap_sink.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "adapters/sinks/soap/secret_file.hpp"
#include "adapters/sinks/soap/soap_attachments.hpp"
#include "adapters/sinks/soap/soap_classify.hpp"
#include "bridge/attachments/verifier.hpp"
#include "bridge/net/url.hpp"
#include "bridge/xml/xsd_validator.hpp"

namespace reportbridge::soap {

namespace {

using core::DeliveryOutcome;
using core::DeliveryStatus;

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("no randomness available");
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  return hex;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> steps;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    if (end > start) steps.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return steps;
}

bool named(const xmlNode* n, const std::string& local) {
  return n->type == XML_ELEMENT_NODE && local == reinterpret_cast<const char*>(n->name);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

DeliveryOutcome reject(const char* code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, code, std::move(detail));
}

}  // namespace

std::string external_reference(const core::TargetRecord& record) {
  return core::external_reference(record.submission_id, record.version);
}

struct SoapSink::Impl {
  SoapConfig cfg;
  core::AttachmentLocator locator;
  net::Url url;
  std::string password;
  std::string authorization;  // "Basic ..." or empty
  std::unique_ptr<net::HttpClient> client;
  xml::XmlRenderer renderer;
  xml::XsdValidator validator;
  std::optional<xml::XPathQuery> create_ref, update_ref, lookup_ref;
  std::vector<std::string> attachment_steps;
  std::string marker_prefix;  // base64-alphabet text, so documents with markers stay schema-valid
  SoapDriver driver;

  Impl(SoapConfig c, core::AttachmentLocator l)
      : cfg(std::move(c)),
        locator(std::move(l)),
        renderer(xml::SchemaSet::load(cfg.schema), cfg.layout),
        validator(renderer.schema()),
        driver(cfg.name, cfg.in_doubt,
               cfg.settle_time ? *cfg.settle_time
                               : std::chrono::duration_cast<std::chrono::milliseconds>(cfg.http.total_timeout +
                                                                                       cfg.http.read_timeout)) {
    auto parsed = net::parse_url(cfg.url);
    if (!parsed) throw std::invalid_argument("url is not an http(s) URL without credentials");
    url = *parsed;
    if (cfg.create.name.empty()) throw std::invalid_argument("the create operation needs a name");
    if ((cfg.basic_auth || cfg.wsse != WsseMode::none) && (cfg.username.empty() || cfg.password_file.empty()))
      throw std::invalid_argument("basic auth / WS-Security need a username and a password file");
    if (cfg.basic_auth || cfg.wsse != WsseMode::none) password = read_secret_file(cfg.password_file);
    if (cfg.basic_auth) authorization = "Basic " + base64(cfg.username + ":" + password);
    xml::Namespaces ns = cfg.namespaces;
    auto add_default = [&](const std::string& prefix, const std::string& uri) {
      for (const auto& [p, u] : ns)
        if (p == prefix) return;
      ns.emplace_back(prefix, uri);
    };
    add_default("svc", cfg.service_namespace);
    add_default("soap", envelope_namespace(cfg.version));
    add_default("soap11", kSoap11Namespace);
    add_default("soap12", kSoap12Namespace);
    auto query = [&](const SoapOperation& op, std::optional<xml::XPathQuery>& q) {
      if (!op.name.empty() && !op.reference_xpath.empty()) q.emplace(op.reference_xpath, ns);
    };
    query(cfg.create, create_ref);
    query(cfg.update, update_ref);
    query(cfg.lookup, lookup_ref);
    if (!cfg.lookup.name.empty() && !lookup_ref)
      throw std::invalid_argument("the lookup operation needs a reference_xpath");
    attachment_steps = split_path(cfg.layout.attachments_path);
    marker_prefix = "RBATTACH" + random_hex(8);
    net::HttpClientConfig http = cfg.http;
    http.base_url = cfg.url;
    client = std::make_unique<net::HttpClient>(std::move(http));
  }

  std::string marker(std::size_t i) const {
    char idx[24];
    std::snprintf(idx, sizeof idx, "%08zu", i);
    return marker_prefix + idx;
  }

  std::vector<xmlNode*> attachment_elements(xmlNode* root) const {
    std::vector<xmlNode*> found;
    xmlNode* at = root;
    for (std::size_t s = 0; at && s + 1 < attachment_steps.size(); ++s) {
      xmlNode* next = nullptr;
      for (xmlNode* c = at->children; c && !next; c = c->next)
        if (named(c, attachment_steps[s])) next = c;
      at = next;
    }
    if (!at || attachment_steps.empty()) return found;
    for (xmlNode* c = at->children; c; c = c->next)
      if (named(c, attachment_steps.back())) found.push_back(c);
    return found;
  }

  struct Built {
    std::optional<DeliveryOutcome> error;
    std::vector<net::BodyPart> parts;
  };

  net::Request request_for(const SoapOperation& op, std::vector<net::BodyPart> parts) const {
    net::Request req;
    req.target = url.target;
    req.headers.emplace_back("Content-Type", content_type(cfg.version, op.soap_action));
    if (cfg.version == SoapVersion::v11) req.headers.emplace_back("SOAPAction", "\"" + op.soap_action + "\"");
    if (!authorization.empty()) req.headers.emplace_back("Authorization", authorization);
    req.body = std::move(parts);
    return req;
  }

  std::optional<UsernameToken> token(bool preview) const {
    if (cfg.wsse == WsseMode::none) return std::nullopt;
    const bool digest = cfg.wsse == WsseMode::digest;
    if (preview)
      return UsernameToken{cfg.username, "[redacted]", digest, digest ? "[nonce]" : "", digest ? "[created]" : ""};
    return make_username_token(cfg.username, password, digest);
  }

  // Renders, validates and serialises one call. `preview`: pretty, placeholders
  // for secrets and attachment content, files not read.
  Built build(const core::TargetRecord& rec, const SoapOperation& op, const std::string* prior, bool preview,
              std::string* preview_text) const {
    Built b;
    const auto tok = token(preview);
    Envelope env = make_envelope(cfg.version, tok ? &*tok : nullptr, cfg.service_namespace, op.name);
    if (prior) add_child(*env.operation, "LegacyReference", *prior);
    add_child(*env.operation, "ExternalReference", external_reference(rec));
    xmlNode* report = xmlNewChild(env.operation, env.operation->ns,
                                  reinterpret_cast<const xmlChar*>("Report"), nullptr);
    auto rendered = renderer.render_into(*report, rec);
    if (rendered.error) {
      b.error = reject(rendered.error->code.c_str(), rendered.error->detail);
      return b;
    }
    if (rendered.replaced_characters && !preview)
      spdlog::info("soap target {}: {} character(s) XML cannot hold replaced by U+FFFD", cfg.name,
                   rendered.replaced_characters);
    struct Inline {
      std::filesystem::path file;
      std::uint64_t size;
      std::string placeholder;
    };
    std::vector<Inline> inlines;
    // What the request holds before any content is inlined; attachments are
    // inlined in order while the request stays within max_request_bytes.
    std::uint64_t request_bytes = 0;
    if (cfg.max_request_bytes && !attachment_steps.empty() && !rec.attachments.empty())
      request_bytes = xml::to_string(*env.doc, xml::Format::compact, true).size();
    if (!attachment_steps.empty() && !rec.attachments.empty()) {
      auto elements = attachment_elements(rendered.element);
      if (elements.size() != rec.attachments.size()) {
        b.error = reject("render_error", "attachment elements do not match the record's attachments");
        return b;
      }
      for (std::size_t i = 0; i < elements.size(); ++i) {
        const auto& a = rec.attachments[i];
        // Base64 text plus the element around it (generously: prefix, tags).
        const std::uint64_t inline_cost = (a.size_bytes + 2) / 3 * 4 + 2 * cfg.attachment_content_element.size() + 64;
        const bool fits = !cfg.max_request_bytes || request_bytes + inline_cost <= cfg.max_request_bytes;
        if (a.size_bytes <= cfg.max_inline_bytes && fits && !cfg.attachment_content_element.empty()) {
          request_bytes += inline_cost;
          std::filesystem::path file;
          if (!preview) {
            if (auto bad = resolve_inline_attachment(locator, a, file)) {
              b.error = std::move(bad);
              return b;
            }
          }
          add_child(*elements[i], cfg.attachment_content_element, marker(inlines.size()));
          inlines.push_back({file, a.size_bytes,
                             "(base64 of attachment " + a.id + ", " + std::to_string(a.size_bytes) + " bytes)"});
        } else if (!cfg.attachment_reference_element.empty()) {
          const std::string ref = attachment_reference_text(cfg.attachment_reference, a, rec.submission_id);
          add_child(*elements[i], cfg.attachment_reference_element, ref);
          request_bytes += ref.size() + 2 * cfg.attachment_reference_element.size() + 64;
        } else if (!cfg.attachment_content_element.empty()) {
          b.error = reject("attachment_too_large", "attachment " + a.id + " (" + std::to_string(a.size_bytes) +
                                                       " bytes) is larger than max_inline_attachment_size or does"
                                                       " not fit in max_request_size, and no reference element is set");
          return b;
        }  // neither element configured: the attachment element carries metadata only
      }
    }
    auto errors = validator.validate(*rendered.element);
    if (!errors.empty()) {
      // Number lines as in encode_preview's rendering, then report with them.
      xml::assign_pretty_line_numbers(*env.doc);
      auto numbered = validator.validate(*rendered.element);
      b.error = reject("schema_invalid", xml::join_errors(numbered.empty() ? errors : numbered));
      return b;
    }
    std::string text = xml::to_string(*env.doc, preview ? xml::Format::pretty : xml::Format::compact, true);
    if (preview) {
      for (std::size_t i = 0; i < inlines.size(); ++i) text = replace_all(text, marker(i), inlines[i].placeholder);
      *preview_text = std::move(text);
      return b;
    }
    std::size_t pos = 0;
    for (std::size_t i = 0; i < inlines.size(); ++i) {
      const std::string m = marker(i);
      const auto at = text.find(m, pos);
      if (at == std::string::npos) {
        b.error = reject("render_error", "attachment placeholder missing from the envelope");
        b.parts.clear();
        return b;
      }
      b.parts.push_back(net::BodyPart::literal(text.substr(pos, at - pos)));
      b.parts.push_back(net::BodyPart::file_base64(inlines[i].file, inlines[i].size));
      pos = at + m.size();
    }
    b.parts.push_back(net::BodyPart::literal(pos == 0 ? std::move(text) : text.substr(pos)));
    if (cfg.max_request_bytes) {
      // The exact size as sent: a request the target would refuse is not sent.
      std::uint64_t total = 0;
      for (const auto& part : b.parts) total += part.encoded_size();
      if (total > cfg.max_request_bytes) {
        b.error = reject("request_too_large", "the request is " + std::to_string(total) +
                                                  " bytes, more than max_request_size (" +
                                                  std::to_string(cfg.max_request_bytes) + ")");
        b.parts.clear();
      }
    }
    return b;
  }

  net::Request lookup_request(const core::TargetRecord& rec) const {
    const auto tok = token(false);
    Envelope env = make_envelope(cfg.version, tok ? &*tok : nullptr, cfg.service_namespace, cfg.lookup.name);
    add_child(*env.operation, "ExternalReference", external_reference(rec));
    std::vector<net::BodyPart> parts;
    parts.push_back(net::BodyPart::literal(xml::to_string(*env.doc, xml::Format::compact, true)));
    return request_for(cfg.lookup, std::move(parts));
  }

  // The calls of this form, for the shared driver (soap_driver.hpp).
  struct Calls : SoapCalls {
    const Impl& impl;
    explicit Calls(const Impl& i) : impl(i) {}
    bool offers_lookup() const override { return !impl.cfg.lookup.name.empty(); }
    bool offers_update() const override { return !impl.cfg.update.name.empty(); }
    Built lookup_request(const core::DeliveryItem& item) override {
      try {
        return impl.lookup_request(item.record);
      } catch (const std::exception& e) {
        auto o = DeliveryOutcome::fail(DeliveryStatus::retry, "lookup_failed", e.what());
        o.in_doubt = true;
        return o;
      }
    }
    DeliveryOutcome read_lookup(const net::Response& r) override {
      return classify(r, &*impl.lookup_ref, true, static_cast<std::size_t>(impl.cfg.http.max_response_bytes)).outcome;
    }
    Built call_request(const core::DeliveryItem& item, bool update) override {
      const SoapOperation& op = update ? impl.cfg.update : impl.cfg.create;
      try {
        Impl::Built b = impl.build(item.record, op, update ? &item.prior_reference : nullptr, false, nullptr);
        if (b.error) return std::move(*b.error);
        return impl.request_for(op, std::move(b.parts));
      } catch (const std::exception& e) {
        return reject("render_error", e.what());
      }
    }
    DeliveryOutcome read_call(const net::Response& r, bool update) override {
      const auto* ref = update ? (impl.update_ref ? &*impl.update_ref : nullptr)
                               : (impl.create_ref ? &*impl.create_ref : nullptr);
      return classify(r, ref, update, static_cast<std::size_t>(impl.cfg.http.max_response_bytes)).outcome;
    }
  };

  std::vector<DeliveryOutcome> deliver(const core::DeliveryBatch& batch) {
    Calls calls(*this);
    return driver.deliver(batch, calls, *client);
  }

  void deliver_each(const core::DeliveryBatch& batch, const core::Sink::OutcomeReport& report) {
    Calls calls(*this);
    driver.deliver_each(batch, calls, *client, report);
  }
};

SoapSink::SoapSink(SoapConfig config, core::AttachmentLocator locator)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(locator))) {}
SoapSink::~SoapSink() = default;

const std::string& SoapSink::name() const { return impl_->cfg.name; }
core::BatchPolicy SoapSink::batch_policy() const { return impl_->cfg.batch; }

std::string SoapSink::encode_preview(const core::TargetRecord& record) const {
  std::string text;
  auto b = impl_->build(record, impl_->cfg.create, nullptr, true, &text);
  if (b.error) throw std::runtime_error(b.error->reason_code + ": " + b.error->detail);
  return text;
}

void SoapSink::deliver_each(const core::DeliveryBatch& batch, const OutcomeReport& report) {
  impl_->deliver_each(batch, report);
}

std::vector<core::DeliveryOutcome> SoapSink::deliver(const core::DeliveryBatch& batch) {
  return impl_->deliver(batch);
}

const SoapConfig& SoapSink::config() const { return impl_->cfg; }

void SoapSink::share_limits(const core::FleetLimitsFactory& make) {
  const auto& h = impl_->cfg.http;
  impl_->client->share_limits(make(h.rate_per_second, h.burst, h.max_connections));
}
std::uint64_t SoapSink::connections_opened() const { return impl_->client->connections_opened(); }
std::chrono::milliseconds SoapSink::settle_time() const { return impl_->driver.settle_time(); }

}  // namespace reportbridge::soap
