// resident_message(): fixed phrases only, so a submitted value can never reach
// the resident's screen (or anyone else's) through this text.
#include <algorithm>
#include <string_view>

#include "bridge/schema/submission_schema.hpp"

namespace reportbridge::schema {

namespace {

constexpr std::string_view kAgain = " Please try sending it again from the latest version of the app.";
constexpr std::string_view kDamaged =
    "We could not read your report because it arrived incomplete or damaged.";

struct Phrase {
  std::string_view field;
  std::string_view words;
  bool plural = false;
};

// Top-level fields as the resident knows them. Anything else (a property the
// app added later, a key we don't know) gets the generic phrase.
constexpr Phrase kPhrases[] = {
    {"id", "the report's identifier"},
    {"version", "the report's version number"},
    {"submitted_at", "the time it was sent"},
    {"kind", "the type of report"},
    {"category", "the category"},
    {"summary", "the summary"},
    {"description", "the description"},
    {"occurred", "the time of the incident"},
    {"location", "the location"},
    {"reporter", "your details", true},
    {"attachments", "the attached photos or videos", true},
    {"device", "the device information from the app"},
    {"consent", "your sharing choice"},
};
constexpr Phrase kUnknown{"", "some of its details", true};

const Phrase& phrase_for(std::string_view field) {
  for (const auto& p : kPhrases) {
    if (p.field == field) return p;
  }
  return kUnknown;
}

// The top-level field an error is about: the first path segment, or for a
// missing property of the document, the property's name.
std::string_view field_of(const SchemaError& e) {
  std::string_view path = e.path;
  if (path.empty()) {
    if (e.keyword != "required") return {};
    std::string_view m = e.message;
    auto open = m.find('\'');
    auto close = m.rfind('\'');
    if (open == std::string_view::npos || close <= open) return {};
    return m.substr(open + 1, close - open - 1);
  }
  path.remove_prefix(1);
  return path.substr(0, path.find('/'));
}

struct FieldProblem {
  const Phrase* phrase = nullptr;
  bool missing = true;    // every error is a missing required property
  bool too_long = true;   // every error is a maxLength
};

}  // namespace

std::string resident_message(const std::vector<SchemaError>& errors) {
  if (errors.empty()) return {};
  std::vector<FieldProblem> problems;
  for (const auto& e : errors) {
    if (e.keyword == "size")
      return "We could not accept your report because it was too large. Please shorten it and send it again.";
    bool whole_document = e.keyword == "json" || e.keyword == "row_mismatch" ||
                          (e.path.empty() && e.keyword != "required");
    if (whole_document) return std::string(kDamaged) + std::string(kAgain);
    // A missing property inside an object (location without lat) is a problem
    // with that object, not a missing field.
    bool missing = e.keyword == "required" && e.path.empty();
    const Phrase* phrase = &phrase_for(field_of(e));
    auto it = std::find_if(problems.begin(), problems.end(),
                           [&](const FieldProblem& p) { return p.phrase == phrase; });
    if (it == problems.end()) {
      problems.push_back({phrase, missing, e.keyword == "maxLength"});
    } else {
      it->missing = it->missing && missing;
      it->too_long = it->too_long && e.keyword == "maxLength";
    }
  }

  std::string out = "We could not read your report because ";
  if (problems.size() == 1) {
    const FieldProblem& p = problems.front();
    if (p.too_long && (p.phrase->field == "description" || p.phrase->field == "summary")) {
      return "We could not accept your report because " + std::string(p.phrase->words) +
             " was too long. Please shorten it and send the report again.";
    }
    out += p.phrase->words;
    out += p.phrase->plural ? " were " : " was ";
    out += p.missing ? "missing." : "not valid.";
  } else if (problems.size() == 2) {
    const FieldProblem& a = problems[0];
    const FieldProblem& b = problems[1];
    out += std::string(a.phrase->words) + " and " + std::string(b.phrase->words) + " were ";
    if (a.missing && b.missing) out += "missing.";
    else if (!a.missing && !b.missing) out += "not valid.";
    else out += "missing or not valid.";
  } else {
    out += "several details were missing or not valid.";
  }
  return out + std::string(kAgain);
}

}  // namespace reportbridge::schema
