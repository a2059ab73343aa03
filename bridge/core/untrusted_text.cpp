#include "bridge/core/untrusted_text.hpp"

#include <cstdint>
#include <cstdio>

namespace reportbridge::core {

namespace {

// Length of the well-formed UTF-8 sequence at text[i] (1-4), and its code
// point; 0 when the bytes there are not well-formed UTF-8 (overlongs,
// surrogates and values past U+10FFFF included).
std::size_t utf8_at(std::string_view text, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t n = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_c1(char32_t cp) { return cp >= 0x80 && cp <= 0x9F; }
bool is_bidi_control(char32_t cp) { return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069); }

void hex_byte(std::string& out, unsigned char b) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  out += buf;
}

}  // namespace

bool terminal_safe(std::string_view text, bool keep_layout) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const bool crlf = b == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
    if ((b >= 0x20 && b < 0x7F && b != '\\') || (keep_layout && (b == '\n' || b == '\t' || b == '\\' || crlf))) {
      ++i;
      continue;
    }
    if (b < 0x80) return false;  // a control, DEL or a backslash
    char32_t cp = 0;
    const std::size_t n = utf8_at(text, i, cp);
    if (n == 0 || is_c1(cp) || is_bidi_control(cp)) return false;
    i += n;
  }
  return true;
}

std::string escape_for_terminal(std::string_view text, bool keep_layout) {
  if (terminal_safe(text, keep_layout)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      const bool crlf = b == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
      if (keep_layout && (b == '\n' || b == '\t' || b == '\\' || crlf)) {
        out.push_back(static_cast<char>(b));
        ++i;
        continue;
      }
      switch (b) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case 0x1B: out += "\\e"; break;
        case '\\': out += "\\\\"; break;
        default:
          if (b < 0x20 || b == 0x7F) hex_byte(out, b);
          else out.push_back(static_cast<char>(b));
      }
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = utf8_at(text, i, cp);
    if (n == 0) {
      hex_byte(out, b);
      ++i;
      continue;
    }
    if (is_c1(cp) || is_bidi_control(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u{%04X}", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string excerpt(std::string_view untrusted, std::size_t max_name) {
  bool name_like = !untrusted.empty() && untrusted.size() <= max_name;
  for (char c : untrusted) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) {
      name_like = false;
      break;
    }
  }
  if (name_like) return std::string(untrusted);
  // The first 3 characters (whole UTF-8 sequences), escaped.
  std::size_t end = 0;
  for (int chars = 0; chars < 3 && end < untrusted.size(); ++chars) {
    char32_t cp = 0;
    const std::size_t n = utf8_at(untrusted, end, cp);
    end += n == 0 ? 1 : n;
  }
  return std::string(untrusted.substr(0, end)) + "... (" + std::to_string(untrusted.size()) + " bytes)";
}

std::string clean_reference(std::string_view reference, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(reference.size(), max_bytes));
  bool pending_space = false;
  for (std::size_t i = 0; i < reference.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_at(reference, i, cp);
    if (n == 0) {  // not UTF-8: dropped
      ++i;
      continue;
    }
    const bool space = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' ||
                       cp == 0xA0 || cp == 0x2028 || cp == 0x2029;
    const bool control = cp < 0x20 || cp == 0x7F || is_c1(cp) || is_bidi_control(cp);
    if (space) {
      pending_space = !out.empty();
    } else if (!control) {
      const std::size_t need = n + (pending_space ? 1 : 0);
      if (out.size() + need > max_bytes) break;
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.append(reference.substr(i, n));
    }
    i += n;
  }
  return out;
}

class TerminalOutputGuard::Filter : public std::streambuf {
 public:
  explicit Filter(std::streambuf* next) : next_(next) {}
  ~Filter() override { pass_on(); }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    line_.push_back(traits_type::to_char_type(c));
    if (c == '\n') pass_on();
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) {
      line_.push_back(s[i]);
      if (s[i] == '\n') pass_on();
    }
    return n;
  }
  int sync() override {
    pass_on();
    return next_->pubsync();
  }

 private:
  void pass_on() {
    if (line_.empty()) return;
    const std::string safe = escape_for_terminal(line_, true);
    next_->sputn(safe.data(), static_cast<std::streamsize>(safe.size()));
    line_.clear();
  }
  std::streambuf* next_;
  std::string line_;
};

TerminalOutputGuard::TerminalOutputGuard(std::ostream& out)
    : out_(out), original_(out.rdbuf()), filter_(std::make_unique<Filter>(original_)) {
  out_.rdbuf(filter_.get());
}

TerminalOutputGuard::~TerminalOutputGuard() {
  out_.flush();
  out_.rdbuf(original_);
}

}  // namespace reportbridge::core
