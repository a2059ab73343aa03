#include "bridge/core/civil_time.hpp"
#include "bridge/audit/audit_entry.hpp"
#include "bridge/core/sha256.hpp"

#include <unistd.h>

#include <boost/json.hpp>

#include <array>
#include <cstring>
#include <random>
#include <stdexcept>

namespace reportbridge::audit {

namespace {

constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr std::size_t kSuffixSize = kHashKey.size() + 64 + 2;  // ,"hash":"<64>"}

void append_hex(std::string& out, const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  if (n == 2 && c < 0xC2) return 0;  // overlong
  if (n == 3) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) return 0;  // overlong, surrogate
  }
  if (n == 4) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90)) return 0;
  }
  return n;
}

// A JSON string: escapes quotes, backslashes and control characters, replaces
// invalid UTF-8 with U+FFFD, and cuts values longer than `limit` bytes.
void append_string(std::string& out, std::string_view s, std::size_t limit) {
  out.push_back('"');
  std::size_t used = 0;
  for (std::size_t i = 0; i < s.size();) {
    // Fast path: a run of printable ASCII that needs no escaping.
    std::size_t run = i;
    while (run < s.size() && run - i + used < limit) {
      auto u = static_cast<unsigned char>(s[run]);
      if (u < 0x20 || u >= 0x7F || u == '"' || u == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      used += run - i;
      i = run;
      continue;
    }
    std::size_t n = utf8_length(s, i);
    std::size_t take = n ? n : 1;
    if (used + (n ? n : 3) > limit) {
      out += "...";
      break;
    }
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      used += 3;
    } else if (n == 1) {
      char c = s[i];
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(kHex[(c >> 4) & 15]);
            out.push_back(kHex[c & 15]);
          } else {
            out.push_back(c);
          }
      }
      ++used;
    } else {
      out.append(s.substr(i, n));
      used += n;
    }
    i += take;
  }
  out.push_back('"');
}

void field(std::string& out, std::string_view key, std::string_view value, std::size_t limit = kMaxField) {
  out += ",\"";
  out += key;
  out += "\":";
  append_string(out, value, limit);
}

void field(std::string& out, std::string_view key, std::int64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  out += std::to_string(value);
}

using core::days_from_civil;

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

ServiceIdentity ServiceIdentity::current(std::string name) {
  ServiceIdentity id;
  id.name = std::move(name);
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) id.host = host;
  id.pid = static_cast<std::int64_t>(getpid());
  std::random_device rd;
  std::array<unsigned char, 8> bytes{};
  for (auto& b : bytes) b = static_cast<unsigned char>(rd());
  append_hex(id.instance, bytes.data(), bytes.size());
  return id;
}

std::string encode_body(std::string_view kind, const core::Event& e, std::int64_t time_ms,
                        const ServiceIdentity& id) {
  std::string out;
  out.reserve(256 + e.detail.size());
  field(out, "time", format_time(time_ms));
  field(out, "service", id.name);
  field(out, "host", id.host);
  field(out, "pid", id.pid);
  field(out, "instance", id.instance);
  field(out, "kind", kind);
  field(out, "submission_id", e.submission_id);
  field(out, "version", e.version);
  field(out, "mapping", e.mapping);
  field(out, "rule", e.rule);
  field(out, "target", e.target);
  field(out, "reference", e.reference);
  field(out, "related_id", e.related_id);
  field(out, "reason_code", e.reason_code);
  field(out, "detail", e.detail, kMaxDetail);
  return out;
}

std::string encode_batch_body(std::string_view kind, const core::EventBatch& b, std::int64_t time_ms,
                              const ServiceIdentity& id) {
  // The references' common prefix (a file name for a file drop's "file#row").
  std::string_view prefix;
  bool first = true;
  for (const auto& item : b.items) {
    if (first) {
      prefix = item.reference;
      first = false;
      continue;
    }
    std::size_t n = 0;
    while (n < prefix.size() && n < item.reference.size() && prefix[n] == item.reference[n]) ++n;
    prefix = prefix.substr(0, n);
  }
  // Only a prefix that can be cut at a UTF-8 boundary and fits the field.
  while (!prefix.empty() && (static_cast<unsigned char>(prefix.back()) & 0xC0) == 0x80) prefix.remove_suffix(1);
  if (!prefix.empty() && static_cast<unsigned char>(prefix.back()) >= 0xC0) prefix.remove_suffix(1);
  if (prefix.size() > kMaxField) prefix = {};
  std::string out;
  out.reserve(256 + b.detail.size() + b.items.size() * 64);
  field(out, "time", format_time(time_ms));
  field(out, "service", id.name);
  field(out, "host", id.host);
  field(out, "pid", id.pid);
  field(out, "instance", id.instance);
  field(out, "kind", kind);
  field(out, "submission_id", "");
  field(out, "version", 0);
  field(out, "mapping", b.mapping);
  field(out, "rule", b.rule);
  field(out, "target", b.target);
  field(out, "reference", prefix);
  field(out, "related_id", "");
  field(out, "reason_code", b.reason_code);
  field(out, "detail", b.detail, kMaxDetail);
  out += ",\"items\":[";
  for (std::size_t i = 0; i < b.items.size(); ++i) {
    const auto& item = b.items[i];
    if (i) out.push_back(',');
    out.push_back('[');
    append_string(out, item.submission_id, kMaxField);
    out.push_back(',');
    out += std::to_string(item.version);
    const std::string_view ref = item.reference.substr(prefix.size());
    if (!ref.empty() || !item.detail.empty()) {
      out.push_back(',');
      append_string(out, ref, kMaxField);
    }
    if (!item.detail.empty()) {
      out.push_back(',');
      append_string(out, item.detail, kMaxDetail);
    }
    out.push_back(']');
  }
  out.push_back(']');
  return out;
}

std::vector<Entry> Entry::expand() const {
  if (!batch) return {*this};
  std::vector<Entry> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    Entry e = *this;
    e.items.clear();
    e.batch = false;
    e.submission_id = item.submission_id;
    e.version = item.version;
    e.reference = reference + item.reference;
    if (!item.detail.empty()) e.detail = item.detail;
    out.push_back(std::move(e));
  }
  return out;
}

std::string unsealed(std::int64_t seq, std::string_view body, std::string_view prev) {
  std::string out;
  out.reserve(body.size() + 180);
  out += "{\"seq\":";
  out += std::to_string(seq);
  out += body;
  out += ",\"prev\":\"";
  out += prev;
  out += '"';
  return out;
}

Sealed seal(std::string u) {
  // a: sha256(U), the own hash; b continues over the suffix: sha256(line).
  core::Sha256 a;
  a.update(u);
  core::Sha256 b = a;
  std::string own = a.hex_digest();
  std::string suffix;
  suffix.reserve(kSuffixSize);
  suffix += kHashKey;
  suffix += own;
  suffix += "\"}";
  b.update(suffix);
  Sealed s;
  s.line_hash = b.hex_digest();
  s.line = std::move(u);
  s.line += suffix;
  return s;
}

std::string seal_into(std::string& out, std::int64_t seq, std::string_view body, std::string_view prev) {
  const std::size_t start = out.size();
  out.reserve(start + body.size() + 180);
  out += "{\"seq\":";
  out += std::to_string(seq);
  out += body;
  out += ",\"prev\":\"";
  out += prev;
  out += '"';
  core::Sha256 a;
  a.update(out.data() + start, out.size() - start);
  core::Sha256 b = a;
  const std::string own = a.hex_digest();
  const std::size_t suffix = out.size();
  out += kHashKey;
  out += own;
  out += "\"}";
  b.update(out.data() + suffix, out.size() - suffix);
  return b.hex_digest();
}

std::string line_hash(std::string_view line) {
  core::Sha256 a;
  a.update(line);
  return a.hex_digest();
}

Parsed parse_entry(std::string_view line) {
  Parsed r;
  if (line.size() < kSuffixSize + 2 || line.front() != '{' ||
      line.substr(line.size() - kSuffixSize, kHashKey.size()) != kHashKey || !line.ends_with("\"}") ||
      !is_hex64(line.substr(line.size() - 66, 64))) {
    r.error = "not an audit entry (it must end with ,\"hash\":\"<64 hex>\"})";
    return r;
  }
  const std::string_view stored = line.substr(line.size() - 66, 64);
  const std::string computed = line_hash(line.substr(0, line.size() - kSuffixSize));
  if (computed != stored) {
    r.error = "its content does not match its own hash (the line was edited): stored " +
              std::string(stored.substr(0, 12)) + "..., computed " + computed.substr(0, 12) + "...";
    return r;
  }
  boost::system::error_code ec;
  unsigned char scratch[4096];
  boost::json::monotonic_resource arena(scratch, sizeof scratch);
  auto v = boost::json::parse(boost::json::string_view(line.data(), line.size()), ec, &arena);
  if (ec || !v.is_object()) {
    r.error = "not valid JSON" + (ec ? ": " + ec.message() : std::string());
    return r;
  }
  const auto& o = v.get_object();
  Entry e;
  std::string missing;
  auto str = [&](const char* key, std::string& out) {
    auto* x = o.if_contains(key);
    if (!x || !x->is_string()) {
      missing += missing.empty() ? key : std::string(", ") + key;
      return;
    }
    out = std::string(x->get_string());
  };
  auto num = [&](const char* key, std::int64_t& out) {
    auto* x = o.if_contains(key);
    if (!x || !x->is_int64()) {
      missing += missing.empty() ? key : std::string(", ") + key;
      return;
    }
    out = x->get_int64();
  };
  num("seq", e.seq);
  str("time", e.time);
  str("service", e.service);
  str("host", e.host);
  num("pid", e.pid);
  str("instance", e.instance);
  str("kind", e.kind);
  str("submission_id", e.submission_id);
  num("version", e.version);
  str("mapping", e.mapping);
  str("rule", e.rule);
  str("target", e.target);
  str("reference", e.reference);
  str("related_id", e.related_id);
  str("reason_code", e.reason_code);
  str("detail", e.detail);
  str("prev", e.prev);
  str("hash", e.hash);
  if (const auto* items = o.if_contains("items")) {
    // A batch entry: [[submission_id, version, reference?, detail?], ...]
    e.batch = true;
    const auto* arr = items->if_array();
    if (!arr) {
      missing += missing.empty() ? "items" : ", items";
    } else {
      e.items.reserve(arr->size());
      for (const auto& v : *arr) {
        const auto* a = v.if_array();
        if (!a || a->size() < 2 || a->size() > 4 || !(*a)[0].is_string() || !(*a)[1].is_int64() ||
            (a->size() > 2 && !(*a)[2].is_string()) || (a->size() > 3 && !(*a)[3].is_string())) {
          r.error = "items: each must be [submission_id, version, reference?, detail?]";
          return r;
        }
        EntryItem item;
        item.submission_id = std::string((*a)[0].get_string());
        item.version = (*a)[1].get_int64();
        if (a->size() > 2) item.reference = std::string((*a)[2].get_string());
        if (a->size() > 3) item.detail = std::string((*a)[3].get_string());
        e.items.push_back(std::move(item));
      }
    }
  }
  if (!missing.empty()) {
    r.error = "missing or mistyped field(s): " + missing;
    return r;
  }
  auto t = parse_time(e.time);
  if (!t) {
    r.error = "time '" + e.time + "' is not RFC 3339";
    return r;
  }
  e.time_ms = *t;
  if (!is_hex64(e.prev)) {
    r.error = "prev is not a SHA-256 hex digest";
    return r;
  }
  if (e.hash != stored) {
    r.error = "hash field appears twice with different values";
    return r;
  }
  r.entry = std::move(e);
  return r;
}

std::string format_time(std::int64_t unix_ms) {
  std::int64_t days = unix_ms >= 0 ? unix_ms / 86'400'000 : (unix_ms - 86'399'999) / 86'400'000;
  std::int64_t rest = unix_ms - days * 86'400'000;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999) y = 0;
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&](std::size_t pos, std::int64_t value, int width) {
    for (int k = width - 1; k >= 0; --k, value /= 10) out[pos + static_cast<std::size_t>(k)] = static_cast<char>('0' + value % 10);
  };
  put(0, y, 4);
  put(5, m, 2);
  put(8, d, 2);
  put(11, rest / 3'600'000, 2);
  put(14, rest / 60'000 % 60, 2);
  put(17, rest / 1000 % 60, 2);
  put(20, rest % 1000, 3);
  return out;
}

std::optional<std::int64_t> parse_time(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    i += n;
    return true;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  int y, mo, d, h = 0, mi = 0, se = 0, ms = 0;
  if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d)) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  std::int64_t offset_min = 0;
  if (i < s.size()) {
    if (!(expect('T') || expect('t') || expect(' '))) return std::nullopt;
    if (!digits(2, h) || !expect(':') || !digits(2, mi)) return std::nullopt;
    if (expect(':')) {
      if (!digits(2, se)) return std::nullopt;
      if (expect('.')) {
        std::size_t start = i;
        int scale = 100;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          ms += (s[i] - '0') * scale;
          scale /= 10;
          ++i;
        }
        if (i == start) return std::nullopt;
      }
    }
    if (h > 23 || mi > 59 || se > 60) return std::nullopt;
    if (expect('Z') || expect('z')) {
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      int sign = s[i] == '-' ? -1 : 1;
      ++i;
      int oh, om;
      if (!digits(2, oh) || !expect(':') || !digits(2, om)) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
    }
    if (i != s.size()) return std::nullopt;
  }
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi - offset_min) * 60'000 + se * 1000LL + ms;
}

}  // namespace reportbridge::audit
