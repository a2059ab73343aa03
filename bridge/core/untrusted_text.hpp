#pragma once
// Text that came from outside (a resident's payload, a target's fault string or
// reference, a file an operator pointed at) on its way to a terminal, a log
// line or an error message. One function for each use, so every output path
// treats it the same way.
#include <cstddef>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

namespace reportbridge::core {

// Makes text safe to print on a terminal: every control character is shown
// visibly instead of acting on the terminal or forging a line. C0 controls
// and DEL become C-style escapes (\n, \r, \t, \e for ESC, \xNN for the
// others), C1 controls (U+0080-U+009F, which include the 8-bit CSI and OSC)
// and the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069)
// become \u{XXXX}, bytes that are not UTF-8 become \xNN, and a backslash is
// doubled so an escape cannot be forged. Printable text, including every
// other non-ASCII character, passes unchanged.
// With `keep_layout`, LF, CR LF, TAB and the backslash pass unchanged (for a
// whole document or report whose lines are its structure, where values were
// escaped already; a value itself must not keep them). A lone CR is escaped.
std::string escape_for_terminal(std::string_view text, bool keep_layout = false);

// True when escape_for_terminal would change nothing (the fast path).
bool terminal_safe(std::string_view text, bool keep_layout = false);

// While alive, everything written to `out` passes through
// escape_for_terminal(..., keep_layout = true), a line at a time: the CLI puts
// one on stdout and stderr for `status`, `preview`, `check`, `replay` and
// `audit`, so no control character that a resident, a target or a file put
// into any value printed there can act on the terminal (ESC, OSC, BEL, CR,
// C1). Values that may hold a line feed are escaped on their own as well, so
// that their line feeds show as \n instead of starting a line.
class TerminalOutputGuard {
 public:
  explicit TerminalOutputGuard(std::ostream& out);
  ~TerminalOutputGuard();
  TerminalOutputGuard(const TerminalOutputGuard&) = delete;
  TerminalOutputGuard& operator=(const TerminalOutputGuard&) = delete;

 private:
  class Filter;
  std::ostream& out_;
  std::streambuf* original_;
  std::unique_ptr<Filter> filter_;
};

// A short, masked quote of untrusted text for an error message: a name-like
// text (letters, digits, '_', '-', '.', at most `max_name` bytes) is quoted
// whole, so "did you mean" still works for a misspelt key; anything else shows
// its first 3 characters, then "..." and its length: "roo... (52 bytes)". A
// line of a password file listed by mistake is never echoed in full. (Not
// escaped: whatever prints it escapes it, as Diagnostic::to_string does.)
std::string excerpt(std::string_view untrusted, std::size_t max_name = 40);

// Cleans a reference a target issued before it is stored, written back to the
// resident's app or shown: control characters (C0, DEL, C1) are dropped, white
// space runs collapse to one space, the ends are trimmed, and at most
// `max_bytes` bytes are kept (cut on a character boundary). Invalid UTF-8
// bytes are dropped.
std::string clean_reference(std::string_view reference, std::size_t max_bytes);

}  // namespace reportbridge::core
