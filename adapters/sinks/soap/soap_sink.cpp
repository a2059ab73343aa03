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
  return record.submission_id + ":" + std::to_string(record.version);
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

  Impl(SoapConfig c, core::AttachmentLocator l)
      : cfg(std::move(c)),
        locator(std::move(l)),
        renderer(xml::SchemaSet::load(cfg.schema), cfg.layout),
        validator(renderer.schema()) {
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
    if (!attachment_steps.empty() && !rec.attachments.empty()) {
      auto elements = attachment_elements(rendered.element);
      if (elements.size() != rec.attachments.size()) {
        b.error = reject("render_error", "attachment elements do not match the record's attachments");
        return b;
      }
      for (std::size_t i = 0; i < elements.size(); ++i) {
        const auto& a = rec.attachments[i];
        if (a.size_bytes <= cfg.max_inline_bytes && !cfg.attachment_content_element.empty()) {
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
          add_child(*elements[i], cfg.attachment_reference_element,
                    attachment_reference_text(cfg.attachment_reference, a, rec.submission_id));
        } else if (!cfg.attachment_content_element.empty()) {
          b.error = reject("attachment_too_large", "attachment " + a.id + " is larger than max_inline_bytes");
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

  std::vector<DeliveryOutcome> deliver(const core::DeliveryBatch& batch) {
    const std::size_t n = batch.items.size();
    std::vector<DeliveryOutcome> out(n);
    std::vector<bool> decided(n, false);
    const std::size_t max_bytes = static_cast<std::size_t>(cfg.http.max_response_bytes);

    // 1. In-doubt items: ask the target before sending again.
    std::vector<std::size_t> asked;
    std::vector<net::Request> lookups;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& item = batch.items[i];
      if (!item.in_doubt) continue;
      if (!cfg.lookup.name.empty()) {
        try {
          lookups.push_back(lookup_request(item.record));
          asked.push_back(i);
        } catch (const std::exception& e) {
          out[i] = DeliveryOutcome::fail(DeliveryStatus::retry, "lookup_failed", e.what());
          out[i].in_doubt = true;
          decided[i] = true;
        }
      } else if (cfg.in_doubt == InDoubtPolicy::hold) {
        out[i] = reject("in_doubt", "an earlier attempt may have reached the target and it offers no lookup; "
                                    "held for an operator to check and replay");
        decided[i] = true;
      }
    }
    const auto answers = client->send_all(lookups);
    for (std::size_t k = 0; k < asked.size(); ++k) {
      const std::size_t i = asked[k];
      auto reading = classify(answers[k], &*lookup_ref, true, max_bytes);
      if (reading.outcome.status == DeliveryStatus::delivered) {
        if (reading.outcome.reference.empty()) continue;  // not there: send below
        out[i] = DeliveryOutcome::ok(std::move(reading.outcome.reference));
      } else {
        out[i] = std::move(reading.outcome);
        out[i].detail = "lookup: " + out[i].detail;
        if (out[i].status == DeliveryStatus::retry) out[i].in_doubt = true;  // still unknown: ask again next time
      }
      out[i].latency_ms = answers[k].latency_ms;
      decided[i] = true;
    }

    // 2. Create or update calls.
    std::vector<std::size_t> sent;
    std::vector<net::Request> requests;
    for (std::size_t i = 0; i < n; ++i) {
      if (decided[i]) continue;
      const auto& item = batch.items[i];
      const bool update = !item.prior_reference.empty();
      if (update && cfg.update.name.empty()) {
        out[i] = reject("update_unsupported", "a new version of a delivered record, and no update operation");
        continue;
      }
      const SoapOperation& op = update ? cfg.update : cfg.create;
      try {
        Built b = build(item.record, op, update ? &item.prior_reference : nullptr, false, nullptr);
        if (b.error) {
          out[i] = std::move(*b.error);
          continue;
        }
        requests.push_back(request_for(op, std::move(b.parts)));
        sent.push_back(i);
      } catch (const std::exception& e) {
        out[i] = reject("render_error", e.what());
      }
    }
    const auto responses = client->send_all(requests);
    for (std::size_t k = 0; k < sent.size(); ++k) {
      const std::size_t i = sent[k];
      const auto& item = batch.items[i];
      const bool update = !item.prior_reference.empty();
      const auto* ref = update ? (update_ref ? &*update_ref : nullptr) : (create_ref ? &*create_ref : nullptr);
      auto reading = classify(responses[k], ref, update, max_bytes);
      out[i] = std::move(reading.outcome);
      if (update && out[i].status == DeliveryStatus::delivered && out[i].reference.empty())
        out[i].reference = item.prior_reference;
      out[i].latency_ms = responses[k].latency_ms;
    }

    std::size_t counts[3] = {0, 0, 0};
    for (const auto& o : out) ++counts[static_cast<int>(o.status)];
    spdlog::debug("soap target {}: batch {}: {} delivered, {} retry, {} rejected ({} looked up)", cfg.name,
                  batch.key, counts[0], counts[1], counts[2], asked.size());
    return out;
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

std::vector<core::DeliveryOutcome> SoapSink::deliver(const core::DeliveryBatch& batch) {
  return impl_->deliver(batch);
}

const SoapConfig& SoapSink::config() const { return impl_->cfg; }
std::uint64_t SoapSink::connections_opened() const { return impl_->client->connections_opened(); }

}  // namespace reportbridge::soap
