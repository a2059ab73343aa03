// libFuzzer: the CSV drop's cell writer. The first byte picks the encoding,
// the unencodable policy, the delimiter and the formula guard; the rest is a
// field value. Checked properties: no raw control byte but TAB, CR and LF in
// a cell; a cell unquotes (RFC 4180) to exactly the encoded text, with the
// guard's leading quote where the guard applies; a cell holding the
// delimiter, a quote, CR or LF is quoted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "adapters/sinks/csv_drop/csv_format.hpp"

using namespace reportbridge::csv_drop;

namespace {
std::string unquote(const std::string& cell) {
  if (cell.empty() || cell.front() != '"') return cell;
  if (cell.size() < 2 || cell.back() != '"') std::abort();
  std::string out;
  for (std::size_t i = 1; i + 1 < cell.size(); ++i) {
    if (cell[i] == '"') {
      if (cell[i + 1] != '"') std::abort();  // a lone quote inside a quoted cell
      ++i;
    }
    out.push_back(cell[i]);
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t o = data[0];
  const Encoding enc = o % 3 == 0 ? Encoding::utf8 : o % 3 == 1 ? Encoding::utf8_bom : Encoding::windows_1252;
  const UnencodablePolicy policy = (o & 4) ? UnencodablePolicy::reject : UnencodablePolicy::transliterate;
  const char delimiter = (o & 8) ? ';' : ((o & 16) ? '\t' : ',');
  const bool guard = (o & 32) != 0;
  const std::string value(reinterpret_cast<const char*>(data + 1), size - 1);
  EncodeResult r = encode_text(value, enc, policy);
  if (!r.ok) return 0;
  for (unsigned char c : r.bytes)
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) std::abort();
  const std::string cell = escape_cell(r.bytes, delimiter, guard);
  std::string plain = unquote(cell);
  if (plain != r.bytes) {
    if (!guard || plain.empty() || plain.front() != '\'' || plain.substr(1) != r.bytes) std::abort();
  }
  const bool special = cell.find_first_of(std::string{delimiter, '"', '\r', '\n'}) != std::string::npos;
  if (special && cell.front() != '"') std::abort();
  return 0;
}
