#pragma once
// Text normalisation and character-trigram signatures for deduplication.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace reportbridge::dedup {

// NFKC + full case folding (ICU NFKC_Casefold, which also drops default
// ignorables such as U+200F RIGHT-TO-LEFT MARK), then every run of Unicode
// white space becomes one U+0020 and the ends are trimmed. Ill-formed UTF-8
// becomes U+FFFD.
std::string fold_text(std::string_view text);

// Sets one bit per character trigram of `folded` (output of fold_text) in a
// bitset of `n_words` 64-bit words. Letters, marks and digits form words; any
// other character separates them; each word is padded with a space on both
// sides, so "bus stop" gives " bu", "bus", "us ", " st", ... Only the first
// `max_code_points` code points are used. Works for any script.
void trigram_bits(std::string_view folded, std::uint64_t* words, std::size_t n_words,
                  std::size_t max_code_points);

// |a & b| / |a | b| over two bitsets (an estimate of the trigram sets' Jaccard
// similarity); 0 when both are empty.
double bit_similarity(const std::uint64_t* a, const std::uint64_t* b, std::size_t n_words);

}  // namespace reportbridge::dedup
