#include "bridge/dedup/normalise.hpp"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <bit>

namespace reportbridge::dedup {
namespace {

const icu::Normalizer2* nfkc_casefold() {
  static const icu::Normalizer2* n = [] {
    UErrorCode ec = U_ZERO_ERROR;
    const icu::Normalizer2* p = icu::Normalizer2::getNFKCCasefoldInstance(ec);
    return U_SUCCESS(ec) ? p : nullptr;
  }();
  return n;
}

// Decodes the next code point; ill-formed sequences give U+FFFD.
UChar32 next_cp(std::string_view s, std::int32_t& i) {
  UChar32 c = 0;
  U8_NEXT(reinterpret_cast<const std::uint8_t*>(s.data()), i, static_cast<std::int32_t>(s.size()), c);
  return c < 0 ? 0xFFFD : c;
}

void append_cp(std::string& out, UChar32 c) {
  char buf[4];
  std::int32_t n = 0;
  UBool err = false;
  U8_APPEND(reinterpret_cast<std::uint8_t*>(buf), n, 4, c, err);
  if (!err) out.append(buf, static_cast<std::size_t>(n));
}

bool is_word_char(UChar32 c) {
  return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK)) != 0;
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Fast path for pure ASCII text, which NFKC_Casefold only lower-cases (no
// ASCII character is decomposed or default-ignorable); ASCII white space is
// TAB, LF, VT, FF, CR and SPACE.
bool fold_ascii(std::string_view text, std::string& out) {
  for (char ch : text)
    if (static_cast<unsigned char>(ch) >= 0x80) return false;
  out.reserve(text.size());
  bool space = false;
  for (char ch : text) {
    if (ch == ' ' || (ch >= '\t' && ch <= '\r')) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
  }
  return true;
}

}  // namespace

std::string fold_text(std::string_view text) {
  {
    std::string out;
    if (fold_ascii(text, out)) return out;
  }
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) text = text.substr(0, INT32_MAX);
  // Re-encode first so ill-formed input reaches ICU as U+FFFD, never as raw bytes.
  std::string clean;
  clean.reserve(text.size());
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(text.size());) append_cp(clean, next_cp(text, i));

  std::string folded;
  if (const auto* n = nfkc_casefold()) {
    UErrorCode ec = U_ZERO_ERROR;
    icu::StringByteSink<std::string> sink(&folded, static_cast<std::int32_t>(clean.size()));
    n->normalizeUTF8(0, icu::StringPiece(clean.data(), static_cast<std::int32_t>(clean.size())), sink,
                     nullptr, ec);
    if (U_FAILURE(ec)) folded = clean;
  } else {
    folded = clean;
  }

  std::string out;
  out.reserve(folded.size());
  bool space = false;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(folded.size());) {
    const UChar32 c = next_cp(folded, i);
    if (u_isUWhiteSpace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    append_cp(out, c);
  }
  return out;
}

void trigram_bits(std::string_view folded, std::uint64_t* words, std::size_t n_words,
                  std::size_t max_code_points) {
  const std::size_t n_bits = n_words * 64;
  if (n_bits == 0) return;
  UChar32 w[3] = {' ', ' ', ' '};  // sliding window; a space pads word starts
  bool in_word = false;
  std::size_t count = 0;
  auto push = [&](UChar32 c) {
    w[0] = w[1];
    w[1] = w[2];
    w[2] = c;
    if (w[0] == ' ' && w[1] == ' ') return;  // no trigram of two separators
    const std::uint64_t h = mix((static_cast<std::uint64_t>(w[0]) << 42) ^
                                (static_cast<std::uint64_t>(w[1]) << 21) ^ static_cast<std::uint64_t>(w[2]));
    const std::size_t bit = static_cast<std::size_t>(h % n_bits);
    words[bit / 64] |= std::uint64_t{1} << (bit % 64);
  };
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(folded.size()) && count < max_code_points; ++count) {
    const auto byte = static_cast<unsigned char>(folded[static_cast<std::size_t>(i)]);
    UChar32 c = 0;
    bool word = false;
    if (byte < 0x80) {  // ASCII: letters and digits are the word characters
      c = byte;
      ++i;
      word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    } else {
      c = next_cp(folded, i);
      word = is_word_char(c);
    }
    if (word) {
      if (!in_word) w[0] = w[1] = w[2] = ' ';  // trigrams never span two words
      push(c);
      in_word = true;
    } else if (in_word) {
      push(' ');
      in_word = false;
    }
  }
  if (in_word) push(' ');
}

double bit_similarity(const std::uint64_t* a, const std::uint64_t* b, std::size_t n_words) {
  int both = 0;
  int either = 0;
  for (std::size_t i = 0; i < n_words; ++i) {
    both += std::popcount(a[i] & b[i]);
    either += std::popcount(a[i] | b[i]);
  }
  return either == 0 ? 0.0 : static_cast<double>(both) / either;
}

}  // namespace reportbridge::dedup
