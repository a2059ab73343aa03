#include "bridge/core/diagnostics.hpp"

#include <algorithm>

#include "bridge/core/untrusted_text.hpp"
#include <tuple>

namespace reportbridge::core {

// Printed on a terminal: file names and messages (which may quote what a file
// holds) have their control characters shown, never acted on.
std::string Diagnostic::to_string() const {
  std::string s = escape_for_terminal(file);
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  s += severity == Severity::error ? ": error: " : ": warning: ";
  s += escape_for_terminal(message);
  if (!code.empty()) s += " [" + code + "]";
  return s;
}

void Diagnostics::error(std::string file, int line, int column, std::string message,
                        std::string code) {
  items_.push_back({std::move(file), line, column, Severity::error, std::move(message),
                    std::move(code)});
}

void Diagnostics::warning(std::string file, int line, int column, std::string message,
                          std::string code) {
  items_.push_back({std::move(file), line, column, Severity::warning, std::move(message),
                    std::move(code)});
}

void Diagnostics::append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

bool Diagnostics::has_errors() const {
  return std::any_of(items_.begin(), items_.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::error; });
}

std::string Diagnostics::to_string() const {
  std::vector<Diagnostic> sorted = items_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  std::string out;
  for (const auto& d : sorted) out += d.to_string() + "\n";
  return out;
}

namespace {
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string with_suggestion(std::string message, const std::string& word,
                            const std::vector<std::string>& candidates) {
  std::string near = closest_match(word, candidates);
  if (!near.empty()) message += ", did you mean '" + near + "'?";
  return message;
}

}  // namespace reportbridge::core
