#pragma once
// The write-back rules of the targets, in config order, and how they turn the
// deliveries of one submission into the status written back to the app. Shared
// by the SQLite and the PostgreSQL state stores.

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bridge/store/state_store.hpp"

namespace reportbridge::store {

class WritebackRules {
 public:
  // A target that delivered the submission, and the reference it issued (empty
  // where its rule does not write one back).
  struct Delivered {
    std::string target;
    std::string reference;
  };

  // Sets the rule of a target; a new target goes last (config order).
  void set(const std::string& target, const WritebackRule& rule);
  // The rule of a target, or nullptr if it has none.
  const WritebackRule* find(const std::string& target) const;
  // Whether the target's rule (or `fallback` where it has none) writes the reference back.
  bool include_reference(const std::string& target, const WritebackRule& fallback) const;
  // Fills u.state, u.message and u.reference for a submission delivered to
  // `got` (not empty): the message of the first target in config order, the
  // references of the targets whose rule writes them back, in config order.
  // `got` is sorted into config order. A target without a rule uses `fallback`.
  void compose(std::vector<Delivered>& got, const WritebackRule& fallback, core::StatusUpdate& u) const;
  // The reference written back for a delivered submission: the references
  // (`reference_for(target)`) of the targets with writeback.reference, in config order.
  std::string written_reference(const std::function<std::string(const std::string&)>& reference_for) const;

 private:
  std::size_t rank(const std::string& target) const;
  std::vector<std::pair<std::string, WritebackRule>> rules_;  // config order
};

}  // namespace reportbridge::store
