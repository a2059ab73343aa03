#pragma once
// Compiler-style diagnostics: `file:line:col: error: message [code]`.
// Lines and columns are 1-based (yaml-cpp marks are 0-based: add 1).
#include <string>
#include <vector>

namespace reportbridge::core {

enum class Severity { error, warning };

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  Severity severity = Severity::error;
  std::string message;
  std::string code;  // stable, documented code such as "config.unknown_key"

  // "file:line:col: error: message [code]", control characters escaped
  // (core::escape_for_terminal)
  std::string to_string() const;
};

// Collects every problem so `check` can report them all at once.
class Diagnostics {
 public:
  void add(Diagnostic d) { items_.push_back(std::move(d)); }
  void error(std::string file, int line, int column, std::string message, std::string code);
  void warning(std::string file, int line, int column, std::string message, std::string code);
  void append(const Diagnostics& other);

  bool has_errors() const;
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }

  // Sorted by file, line, column; one diagnostic per line.
  std::string to_string() const;

 private:
  std::vector<Diagnostic> items_;
};

// Edit distance based "did you mean" helper: the closest candidate within a
// small distance, or an empty string.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
// `message` plus ", did you mean 'x'?" when a candidate is close to `word`.
std::string with_suggestion(std::string message, const std::string& word,
                            const std::vector<std::string>& candidates);

}  // namespace reportbridge::core
