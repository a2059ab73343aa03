#include "bridge/core/events.hpp"

namespace reportbridge::core {

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::collected: return "collected";
    case EventKind::validated: return "validated";
    case EventKind::rejected: return "rejected";
    case EventKind::mapped: return "mapped";
    case EventKind::unrouted: return "unrouted";
    case EventKind::mapping_failed: return "mapping_failed";
    case EventKind::needs_review: return "needs_review";
    case EventKind::duplicate: return "duplicate";
    case EventKind::related: return "related";
    case EventKind::delivered: return "delivered";
    case EventKind::retry: return "retry";
    case EventKind::dead: return "dead";
    case EventKind::replayed: return "replayed";
    case EventKind::written_back: return "written_back";
    case EventKind::erased: return "erased";
    case EventKind::withheld: return "withheld";
  }
  return "unknown";
}

Event EventBatch::event(const Item& item) const {
  Event e;
  e.kind = kind;
  e.at_ms = at_ms;
  e.submission_id = std::string(item.submission_id);
  e.version = item.version;
  e.mapping = std::string(mapping);
  e.rule = std::string(rule);
  e.target = std::string(target);
  e.reference = std::string(item.reference);
  e.reason_code = std::string(reason_code);
  e.detail = std::string(item.detail.empty() ? detail : item.detail);
  e.latency_ms = item.latency_ms;
  return e;
}

}  // namespace reportbridge::core
