#pragma once
// Regular expressions with RE2: linear time in the input, no backtracking, so
// an analyst's pattern can't hang the bridge on a hostile input. Syntax:
// https://github.com/google/re2/wiki/Syntax (no backreferences, no lookaround).
// Patterns are UTF-8 and match code points. Objects are immutable after
// construction and safe to share between threads.
#include <memory>
#include <string>
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace re2 {
class RE2;
}

namespace reportbridge::mapping::functions {

// Replaces every non-overlapping match. In `replacement`, \0 is the whole
// match, \1..\9 the groups, \\ a backslash.
class RegexReplace {
 public:
  // Throws std::invalid_argument with RE2's message for an invalid pattern,
  // and for a replacement naming a group the pattern doesn't have.
  RegexReplace(std::string_view pattern, std::string replacement);
  ~RegexReplace();
  RegexReplace(RegexReplace&&) noexcept;
  RegexReplace& operator=(RegexReplace&&) noexcept;

  Result operator()(std::string_view text) const;

 private:
  std::unique_ptr<re2::RE2> re_;
  std::string replacement_;
};

// Returns group `group` (0: the whole match) of the first match.
// No match -> "regex.no_match"; the group took no part in the match (an
// optional group) -> "regex.group_unmatched".
class RegexExtract {
 public:
  // Throws std::invalid_argument for an invalid pattern or a group number the
  // pattern doesn't have.
  explicit RegexExtract(std::string_view pattern, int group = 0);
  // The same with a named group, (?P<name>...).
  RegexExtract(std::string_view pattern, const std::string& group_name);
  ~RegexExtract();
  RegexExtract(RegexExtract&&) noexcept;
  RegexExtract& operator=(RegexExtract&&) noexcept;

  Result operator()(std::string_view text) const;

 private:
  std::unique_ptr<re2::RE2> re_;
  int group_ = 0;
};

}  // namespace reportbridge::mapping::functions
