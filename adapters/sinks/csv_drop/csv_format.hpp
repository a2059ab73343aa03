#pragma once
// Pure CSV helpers of the CSV drop sink: cell escaping (RFC 4180 plus formula
// neutralisation) and text encoding (UTF-8 / Windows-1252 through ICU). No
// I/O; table-tested. (Safe file names: bridge/file_drop/names.hpp.)
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace reportbridge::csv_drop {

enum class Encoding { utf8, utf8_bom, windows_1252 };

// What to do with characters Windows-1252 cannot hold (never a silent '?').
enum class UnencodablePolicy {
  transliterate,  // ICU "Any-Latin; Latin-ASCII" for letters; anything left as "[U+1F64F]"
  reject,         // the item is rejected (reason "unencodable")
};

// One CSV cell, RFC 4180: the cell is quoted when it holds the delimiter, '"',
// CR or LF, and inner quotes are doubled.
// Formula neutralisation (OWASP "CSV injection"): with `formula_guard`, a cell
// whose first byte is = + - @ TAB or CR gets a leading single quote ' so that
// spreadsheets show it as text instead of evaluating it; quoting then applies
// as usual. A plain decimal number ("-1.2350", "+447700900123") is left alone:
// spreadsheets read it as a number, never as a formula, and coordinates stay
// usable. Anything else starting with + or - ("-2+3+cmd|...") is guarded.
// Works on UTF-8 and on Windows-1252 bytes alike (all special bytes are ASCII).
std::string escape_cell(std::string_view value, char delimiter, bool formula_guard);
// escape_cell's result appended to `out` (no temporary string).
void append_escaped_cell(std::string& out, std::string_view value, char delimiter, bool formula_guard);

// True when every byte is printable ASCII, TAB, LF or CR: encode_text returns
// such text unchanged in every encoding, so a caller may skip it.
bool is_plain_ascii(std::string_view text);

// True for [+-]digits[.digits]: safe from formula evaluation.
bool is_plain_number(std::string_view value);

struct EncodeResult {
  std::string bytes;                  // the encoded text (empty when !ok)
  std::vector<char32_t> unencodable;  // code points Windows-1252 could not hold exactly
  std::size_t controls = 0;           // control characters replaced by their marker
  bool ok = false;
  std::string error;                  // when !ok: names code points, never the text
};

// Encodes UTF-8 text to `encoding`. Invalid UTF-8 is refused (ok=false with an
// empty `unencodable`). Control characters are never written raw, in any
// encoding: TAB, LF and CR are text layout and stay (a cell holding CR or LF
// is quoted); every other C0 control (U+0000-U+001F), DEL (U+007F) and every
// C1 control (U+0080-U+009F) becomes its visible marker "[U+000B]", counted
// in `controls` (mark_controls). UTF-8 / UTF-8+BOM return the text unchanged (the BOM
// belongs to the file, not to each value). Windows-1252: the text is NFC
// normalised, characters the code page has (é £ € ’ ...) are encoded exactly
// with ICU's converter, the others go through `policy`; every such character is
// listed in `unencodable` (transliterated, marked or refused).
// Throws std::runtime_error only when ICU itself fails (missing data).
EncodeResult encode_text(std::string_view utf8, Encoding encoding, UnencodablePolicy policy);

// "[U+1F64F]": the visible marker for a character that cannot be encoded.
std::string code_point_marker(char32_t cp);

// The control-character policy of encode_text on (valid) UTF-8: returns the
// text with every control other than TAB, LF and CR replaced by its marker,
// adding the number replaced to `count`.
std::string mark_controls(std::string_view utf8, std::size_t& count);

}  // namespace reportbridge::csv_drop
