#include "bridge/mapping/functions/regex.hpp"

#include <re2/re2.h>

#include <stdexcept>
#include <vector>

#include "bridge/mapping/functions/utf8.hpp"

namespace reportbridge::mapping::functions {
namespace {

std::unique_ptr<re2::RE2> compile(std::string_view pattern, const char* who) {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingUTF8);
  options.set_log_errors(false);  // RE2 would log to stderr; we throw instead
  auto re = std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) {
    throw std::invalid_argument(std::string(who) + ": invalid pattern: " + re->error());
  }
  return re;
}

}  // namespace

RegexReplace::RegexReplace(std::string_view pattern, std::string replacement)
    : re_(compile(pattern, "regex_replace")), replacement_(std::move(replacement)) {
  std::string error;
  if (!re_->CheckRewriteString(replacement_, &error)) {
    throw std::invalid_argument("regex_replace: invalid replacement: " + error);
  }
}

RegexReplace::~RegexReplace() = default;
RegexReplace::RegexReplace(RegexReplace&&) noexcept = default;
RegexReplace& RegexReplace::operator=(RegexReplace&&) noexcept = default;

Result RegexReplace::operator()(std::string_view text) const {
  if (!detail::valid_utf8(text)) return Result::fail("text.invalid_utf8");
  std::string out(text);
  RE2::GlobalReplace(&out, *re_, replacement_);
  return Result::of(std::move(out));
}

RegexExtract::RegexExtract(std::string_view pattern, int group)
    : re_(compile(pattern, "regex_extract")), group_(group) {
  if (group < 0 || group > re_->NumberOfCapturingGroups()) {
    throw std::invalid_argument("regex_extract: group " + std::to_string(group) +
                                " does not exist (the pattern has " +
                                std::to_string(re_->NumberOfCapturingGroups()) + " groups)");
  }
}

RegexExtract::RegexExtract(std::string_view pattern, const std::string& group_name)
    : re_(compile(pattern, "regex_extract")) {
  const auto& names = re_->NamedCapturingGroups();
  auto it = names.find(group_name);
  if (it == names.end()) {
    throw std::invalid_argument("regex_extract: the pattern has no group named '" + group_name + "'");
  }
  group_ = it->second;
}

RegexExtract::~RegexExtract() = default;
RegexExtract::RegexExtract(RegexExtract&&) noexcept = default;
RegexExtract& RegexExtract::operator=(RegexExtract&&) noexcept = default;

Result RegexExtract::operator()(std::string_view text) const {
  if (!detail::valid_utf8(text)) return Result::fail("text.invalid_utf8");
  std::vector<re2::StringPiece> groups(static_cast<std::size_t>(group_) + 1);
  re2::StringPiece input(text.data(), text.size());
  if (!re_->Match(input, 0, input.size(), RE2::UNANCHORED, groups.data(),
                  static_cast<int>(groups.size()))) {
    return Result::fail("regex.no_match");
  }
  const re2::StringPiece& g = groups.back();
  if (g.data() == nullptr) return Result::fail("regex.group_unmatched");
  return Result::of(std::string(g.data(), g.size()));
}

}  // namespace reportbridge::mapping::functions
