// Untrusted text on its way to a terminal, an error message or a resident.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "bridge/core/diagnostics.hpp"
#include "bridge/core/untrusted_text.hpp"

using namespace reportbridge::core;
using namespace std::string_literals;

TEST_CASE("escape_for_terminal shows every control character and passes printable text") {
  CHECK(escape_for_terminal("CR/2026/000123 Linthorpe Road, café ü 漢字 😀") ==
        "CR/2026/000123 Linthorpe Road, café ü 漢字 😀");
  CHECK(terminal_safe("plain text, accents é"));
  // A line feed inside a value cannot forge a line; CR cannot overwrite one.
  CHECK(escape_for_terminal("fault\nDELIVERED ok") == "fault\\nDELIVERED ok");
  CHECK(escape_for_terminal("a\rb\tc") == "a\\rb\\tc");
  // ESC (CSI, OSC title), BEL, NUL, DEL, other C0.
  CHECK(escape_for_terminal("\x1b[2J\x1b]0;pwned\x07") == "\\e[2J\\e]0;pwned\\x07");
  CHECK(escape_for_terminal("a\0b"s) == "a\\x00b");
  CHECK(escape_for_terminal("\x7f\x01\x0b") == "\\x7f\\x01\\x0b");
  // 8-bit C1 controls (CSI U+009B, OSC U+009D) and bidi overrides.
  CHECK(escape_for_terminal("\xc2\x9b" "31m") == "\\u{009B}31m");
  CHECK(escape_for_terminal("\xc2\x9d" "0;x") == "\\u{009D}0;x");
  CHECK(escape_for_terminal("abc\xe2\x80\xae" "cba") == "abc\\u{202E}cba");
  CHECK(escape_for_terminal("\xe2\x81\xa6x") == "\\u{2066}x");
  // Bytes that are not UTF-8 (a lone continuation, a truncated sequence, an overlong).
  CHECK(escape_for_terminal("a\x80z") == "a\\x80z");
  CHECK(escape_for_terminal("a\xe2\x80") == "a\\xe2\\x80");
  CHECK(escape_for_terminal("\xc0\xaf") == "\\xc0\\xaf");
  // A backslash is doubled, so text cannot pose as an escape.
  CHECK(escape_for_terminal("C:\\n") == "C:\\\\n");
  CHECK_FALSE(terminal_safe("x\\y"));
}

TEST_CASE("excerpt quotes names whole and masks anything else") {
  CHECK(excerpt("poll_intervall") == "poll_intervall");
  CHECK(excerpt("rms.soap-1") == "rms.soap-1");
  CHECK(excerpt("root:$6$saltsalt$Hh2Fq7oVbnx:19000:0:99999:7:::") == "roo... (47 bytes)");
  CHECK(excerpt("password = hunter2") == "pas... (18 bytes)");
  CHECK(excerpt(std::string(41, 'a')) == "aaa... (41 bytes)");
  CHECK(excerpt("日本語テキスト") == "日本語... (21 bytes)");
  CHECK(excerpt("") == "... (0 bytes)");
}

TEST_CASE("clean_reference drops controls, collapses white space and bounds the length") {
  CHECK(clean_reference("CR/2026/000123", 256) == "CR/2026/000123");
  CHECK(clean_reference("  CR/1\r\n\r\nInjected: line\t ", 256) == "CR/1 Injected: line");
  CHECK(clean_reference("A\x1b[31mB\x07" "C\xc2\x9b" "D\xe2\x80\xae" "E", 256) == "A[31mBCDE");
  CHECK(clean_reference("X\x80Y", 256) == "XY");
  const std::string big(100 * 1024, 'R');
  CHECK(clean_reference(big, 256).size() == 256);
  // Cut on a character boundary.
  CHECK(clean_reference("ab\xc3\xa9", 3) == "ab");
  CHECK(clean_reference("\r\n", 256).empty());
}

TEST_CASE("diagnostics print control characters visibly") {
  Diagnostic d{"m\x1b.yaml", 3, 1, Severity::error, "unknown key 'a\nb' in mapping", "yaml.unknown_key"};
  CHECK(d.to_string() == "m\\e.yaml:3:1: error: unknown key 'a\\nb' in mapping [yaml.unknown_key]");
}

TEST_CASE("keep_layout keeps line ends and tabs, and escapes everything else") {
  CHECK(escape_for_terminal("a\tb\r\nc\nd\\e", true) == "a\tb\r\nc\nd\\e");
  CHECK(escape_for_terminal("over\rwrite\x1b[2K\x07", true) == "over\\rwrite\\e[2K\\x07");
  CHECK(escape_for_terminal("\xc2\x9b" "1m", true) == "\\u{009B}1m");
}

TEST_CASE("TerminalOutputGuard escapes whatever is written through the stream, a line at a time") {
  std::ostringstream sink;
  {
    TerminalOutputGuard guard(sink);
    sink << "dead letter: " << "fault\x1b]0;title\x07" << "\n";
    sink << "partial \x9b";  // an invalid byte, flushed at the end
    sink << std::flush;
    sink << "line\r\n";
  }
  CHECK(sink.str() == "dead letter: fault\\e]0;title\\x07\npartial \\x9bline\r\n");
  sink << "\x1b after the guard";  // the stream has its own buffer back
  CHECK(sink.str().back() == 'd');
}
