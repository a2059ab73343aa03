#include "bridge/store/writeback_rules.hpp"

#include <algorithm>

namespace reportbridge::store {

void WritebackRules::set(const std::string& target, const WritebackRule& rule) {
  for (auto& [t, r] : rules_)
    if (t == target) {
      r = rule;
      return;
    }
  rules_.emplace_back(target, rule);
}

const WritebackRule* WritebackRules::find(const std::string& target) const {
  for (const auto& [t, r] : rules_)
    if (t == target) return &r;
  return nullptr;
}

std::size_t WritebackRules::rank(const std::string& target) const {
  for (std::size_t k = 0; k < rules_.size(); ++k)
    if (rules_[k].first == target) return k;
  return rules_.size();
}

bool WritebackRules::include_reference(const std::string& target, const WritebackRule& fallback) const {
  const WritebackRule* r = find(target);
  return r ? r->include_reference : fallback.include_reference;
}

void WritebackRules::compose(std::vector<Delivered>& got, const WritebackRule& fallback, core::StatusUpdate& u) const {
  std::stable_sort(got.begin(), got.end(),
                   [&](const Delivered& a, const Delivered& b) { return rank(a.target) < rank(b.target); });
  u.state = "forwarded";
  const WritebackRule* first = find(got.front().target);
  u.message = first ? first->message : fallback.message;
  for (const auto& g : got) {
    const WritebackRule* r = find(g.target);
    if (!r) r = &fallback;
    if (r->include_reference && !g.reference.empty()) u.reference += (u.reference.empty() ? "" : ", ") + g.reference;
  }
}

std::string WritebackRules::written_reference(
    const std::function<std::string(const std::string&)>& reference_for) const {
  std::string out;
  for (const auto& [target, rule] : rules_) {
    if (!rule.include_reference) continue;
    const std::string ref = reference_for(target);
    if (!ref.empty()) out += (out.empty() ? "" : ", ") + ref;
  }
  return out;
}

}  // namespace reportbridge::store
