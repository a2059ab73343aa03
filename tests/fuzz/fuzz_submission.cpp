// libFuzzer: one payload through check_payload (JSON parse, size cap, every
// schema rule, row id/version cross-check) and the resident's message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bridge/schema/submission_schema.hpp"

using namespace reportbridge;

namespace {
const schema::SubmissionSchema& the_schema() {
  static const schema::SubmissionSchema s = [] {
    core::Diagnostics d;
    auto loaded = schema::SubmissionSchema::load(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json", d);
    if (!loaded) std::abort();
    return *loaded;
  }();
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  auto r = schema::check_payload(the_schema(), payload, "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01", 1);
  const std::string message = schema::resident_message(r.errors);
  // Invariants: a verdict either way; rejected payloads have a message, valid ones none.
  if (r.ok() != r.errors.empty() || r.errors.empty() != message.empty()) std::abort();
  for (const auto& e : r.errors) (void)schema::to_string(e);
  return 0;
}
