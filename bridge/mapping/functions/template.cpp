#include "bridge/mapping/functions/template.hpp"

#include <algorithm>

#include "bridge/mapping/functions/utf8.hpp"

namespace reportbridge::mapping::functions {
namespace {

bool name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

// 1-based column, in code points, of byte offset `i`.
std::size_t column_of(std::string_view text, std::size_t i) {
  return detail::count_code_points(text.substr(0, i)) + 1;
}

}  // namespace

TemplateSyntaxError::TemplateSyntaxError(std::size_t column, const std::string& message)
    : std::invalid_argument("template: column " + std::to_string(column) + ": " + message),
      column_(column) {}

Template::Template(std::string_view text, MissingPlaceholder missing) : missing_(missing) {
  if (std::size_t bad = detail::first_invalid_utf8(text); bad != std::string_view::npos) {
    throw TemplateSyntaxError(column_of(text, bad), "malformed UTF-8");
  }
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) parts_.push_back(Part{false, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal.push_back('{');
      i += 2;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal.push_back('}');
      i += 2;
    } else if (c == '}') {
      throw TemplateSyntaxError(column_of(text, i), "'}' without '{' (write '}}' for a brace)");
    } else if (c == '{') {
      std::size_t close = text.find('}', i + 1);
      if (close == std::string_view::npos) {
        throw TemplateSyntaxError(column_of(text, i), "'{' is never closed (write '{{' for a brace)");
      }
      std::string_view name = text.substr(i + 1, close - i - 1);
      if (name.empty()) throw TemplateSyntaxError(column_of(text, i), "empty placeholder '{}'");
      for (std::size_t k = 0; k < name.size(); ++k) {
        if (k == 0 ? !name_start(name[k]) : !name_char(name[k])) {
          throw TemplateSyntaxError(column_of(text, i + 1 + k),
                                    "placeholder names use letters, digits, '_', '.', '-' and "
                                    "start with a letter or '_'");
        }
      }
      flush();
      parts_.push_back(Part{true, std::string(name)});
      if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.emplace_back(name);
      i = close + 1;
    } else {
      literal.push_back(c);
      ++i;
    }
  }
  flush();
}

Result Template::render(const Lookup& lookup) const {
  std::string out;
  for (const Part& p : parts_) {
    if (!p.placeholder) {
      out += p.text;
      continue;
    }
    std::optional<std::string> v = lookup ? lookup(p.text) : std::nullopt;
    if (!v) {
      if (missing_ == MissingPlaceholder::error) return Result::fail("template.missing_value");
      continue;
    }
    out += *v;
  }
  return Result::of(std::move(out));
}

}  // namespace reportbridge::mapping::functions
