#include "adapters/sinks/soap/soap_driver.hpp"

#include <spdlog/spdlog.h>

namespace reportbridge::soap {

using core::DeliveryOutcome;
using core::DeliveryStatus;

std::vector<DeliveryOutcome> SoapDriver::deliver(const core::DeliveryBatch& batch, SoapCalls& calls,
                                                 net::HttpClient& client) {
  const std::size_t n = batch.items.size();
  std::vector<DeliveryOutcome> out(n);
  std::vector<bool> decided(n, false);
  const auto now = Clock::now();

  // 1. In-doubt items: nothing before the settle time; then ask (or resend / hold).
  std::vector<std::size_t> asked;
  std::vector<net::Request> lookups;
  std::size_t settling = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& item = batch.items[i];
    if (!item.in_doubt) continue;
    auto it = last_send_.try_emplace(item.outbox_id, now).first;  // after a restart: from now
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second);
    if (waited < settle_) {
      const auto left = settle_ - waited;
      out[i] = DeliveryOutcome::fail(DeliveryStatus::retry, "in_doubt_settling",
                                     "an earlier request may still be in progress at the target; " +
                                         std::to_string(left.count()) + " ms left of the settle time before " +
                                         (calls.offers_lookup() ? "the lookup" : "deciding"));
      out[i].in_doubt = true;
      out[i].deferred = true;
      out[i].retry_after = std::chrono::duration_cast<std::chrono::seconds>(left + std::chrono::milliseconds(999));
      decided[i] = true;
      ++settling;
      continue;
    }
    if (calls.offers_lookup()) {
      auto built = calls.lookup_request(item);
      if (auto* o = std::get_if<DeliveryOutcome>(&built)) {
        out[i] = std::move(*o);
        decided[i] = true;
        continue;
      }
      lookups.push_back(std::move(std::get<net::Request>(built)));
      asked.push_back(i);
    } else if (policy_ == InDoubtPolicy::hold) {
      out[i] = DeliveryOutcome::fail(DeliveryStatus::reject, "in_doubt",
                                     "an earlier attempt may have reached the target and it offers no lookup; "
                                     "held for an operator to check and replay");
      decided[i] = true;
    }
  }
  const auto answers = client.send_all(lookups);
  for (std::size_t k = 0; k < asked.size(); ++k) {
    const std::size_t i = asked[k];
    auto o = calls.read_lookup(answers[k]);
    if (o.status == DeliveryStatus::delivered && o.reference.empty()) continue;  // not found: send below
    if (o.status != DeliveryStatus::delivered) {
      o.detail = "lookup: " + o.detail;
      if (o.status == DeliveryStatus::retry) o.in_doubt = true;  // still unknown: ask again next time
    }
    o.latency_ms = answers[k].latency_ms;
    out[i] = std::move(o);
    decided[i] = true;
  }

  // 2. Create or update calls.
  std::vector<std::size_t> sent;
  std::vector<net::Request> requests;
  for (std::size_t i = 0; i < n; ++i) {
    if (decided[i]) continue;
    const auto& item = batch.items[i];
    const bool update = !item.prior_reference.empty();
    if (update && !calls.offers_update()) {
      out[i] = DeliveryOutcome::fail(DeliveryStatus::reject, "update_unsupported",
                                     "a new version of a delivered record, and no update operation");
      continue;
    }
    auto built = calls.call_request(item, update);
    if (auto* o = std::get_if<DeliveryOutcome>(&built)) {
      out[i] = std::move(*o);
      continue;
    }
    requests.push_back(std::move(std::get<net::Request>(built)));
    sent.push_back(i);
    last_send_[item.outbox_id] = Clock::now();
  }
  const auto responses = client.send_all(requests);
  for (std::size_t k = 0; k < sent.size(); ++k) {
    const std::size_t i = sent[k];
    const auto& item = batch.items[i];
    const bool update = !item.prior_reference.empty();
    out[i] = calls.read_call(responses[k], update);
    if (update && out[i].status == DeliveryStatus::delivered && out[i].reference.empty())
      out[i].reference = item.prior_reference;
    out[i].latency_ms = responses[k].latency_ms;
  }
  // Settled items are forgotten; a retried one keeps the time of its last send
  // (the outbox keeps it in doubt once it was).
  for (std::size_t i = 0; i < n; ++i)
    if (out[i].status != DeliveryStatus::retry) last_send_.erase(batch.items[i].outbox_id);

  std::size_t counts[3] = {0, 0, 0};
  for (const auto& o : out) ++counts[static_cast<int>(o.status)];
  spdlog::debug("soap target {}: batch {}: {} delivered, {} retry ({} settling), {} rejected ({} looked up)", target_,
                batch.key, counts[0], counts[1], settling, counts[2], asked.size());
  return out;
}

}  // namespace reportbridge::soap
