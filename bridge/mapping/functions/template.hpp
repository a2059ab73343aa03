#pragma once
// Text templates: "{summary} ({category})". Placeholder names are
// [A-Za-z_][A-Za-z0-9_.-]*; "{{" and "}}" are literal braces. Parsed once at
// construction; rendering is a concatenation. Immutable and thread-safe.
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

// A syntax error in a template, with the 1-based column (in code points) of
// the offending character.
class TemplateSyntaxError : public std::invalid_argument {
 public:
  TemplateSyntaxError(std::size_t column, const std::string& message);
  std::size_t column() const { return column_; }

 private:
  std::size_t column_;
};

// What rendering does when the lookup has no value for a placeholder.
enum class MissingPlaceholder {
  empty,  // render it as ""
  error,  // fail with "template.missing_value"
};

class Template {
 public:
  using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

  // Throws TemplateSyntaxError: unclosed '{', a lone '}', an empty or
  // malformed placeholder name, malformed UTF-8 (column of the first bad byte).
  explicit Template(std::string_view text, MissingPlaceholder missing = MissingPlaceholder::error);

  Result render(const Lookup& lookup) const;

  // Placeholder names in order of first appearance (for load-time checks).
  const std::vector<std::string>& placeholders() const { return names_; }

 private:
  struct Part {
    bool placeholder = false;
    std::string text;  // literal text, or the placeholder name
  };
  std::vector<Part> parts_;
  std::vector<std::string> names_;
  MissingPlaceholder missing_;
};

}  // namespace reportbridge::mapping::functions
