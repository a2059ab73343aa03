#include "adapters/sinks/soap/soap_driver.hpp"

#include <spdlog/spdlog.h>

#include <optional>

namespace reportbridge::soap {

using core::DeliveryOutcome;
using core::DeliveryStatus;

std::vector<DeliveryOutcome> SoapDriver::deliver(const core::DeliveryBatch& batch, SoapCalls& calls,
                                                 net::HttpClient& client) {
  std::vector<DeliveryOutcome> out(batch.items.size());
  deliver_each(batch, calls, client, [&](std::size_t i, DeliveryOutcome o) { out[i] = std::move(o); });
  return out;
}

// Each item is a job of one or two calls (lookup, then create/update when the
// lookup did not find it) on one connection slot; its outcome is reported the
// moment its last answer is read, and the slot takes the next item, so a slow
// call holds its own item and slot only.
void SoapDriver::deliver_each(const core::DeliveryBatch& batch, SoapCalls& calls, net::HttpClient& client,
                              const core::Sink::OutcomeReport& report) {
  const std::size_t n = batch.items.size();
  const auto now = Clock::now();
  auto sent_now = [&](std::int64_t id) {
    std::lock_guard lock(last_send_m_);
    last_send_[id] = Clock::now();
  };
  std::size_t counts[3] = {0, 0, 0};
  std::size_t settling = 0, asked = 0, existing = 0;
  // Settled items are forgotten; a retried one keeps the time of its last
  // send (the outbox keeps it in doubt once it was).
  auto finish = [&](std::size_t i, DeliveryOutcome o) {
    const auto& item = batch.items[i];
    if (o.status != DeliveryStatus::retry) {
      std::lock_guard lock(last_send_m_);
      last_send_.erase(item.outbox_id);
    }
    ++counts[static_cast<int>(o.status)];
    report(i, std::move(o));
  };

  // Nothing is sent for a batch whose lease this instance may no longer hold.
  auto held = [&batch](net::Request r) {
    r.may_send = batch.still_held;
    return r;
  };
  enum class Phase { lookup, call, existing };
  struct Job {
    std::size_t item;
    Phase phase;
  };
  std::vector<Job> jobs;
  std::vector<net::Request> first;
  // The create or update of item i, or its outcome without a call.
  auto call_of = [&](std::size_t i) -> std::optional<net::Request> {
    const auto& item = batch.items[i];
    const bool update = !item.prior_reference.empty();
    if (update && !calls.offers_update()) {
      finish(i, DeliveryOutcome::fail(DeliveryStatus::reject, "update_unsupported",
                                      "a new version of a delivered record, and no update operation"));
      return std::nullopt;
    }
    auto built = calls.call_request(item, update);
    if (auto* o = std::get_if<DeliveryOutcome>(&built)) {
      finish(i, std::move(*o));
      return std::nullopt;
    }
    sent_now(item.outbox_id);
    return held(std::move(std::get<net::Request>(built)));
  };

  for (std::size_t i = 0; i < n; ++i) {
    const auto& item = batch.items[i];
    // A create the target refuses to make twice is simply sent again.
    const bool safe_resend = item.prior_reference.empty() && calls.create_refuses_duplicates();
    if (item.in_doubt && !safe_resend) {
      // Nothing before the settle time; then ask (or resend / hold).
      std::chrono::milliseconds waited;
      {
        std::lock_guard lock(last_send_m_);
        auto it = last_send_.try_emplace(item.outbox_id, now).first;  // after a restart: from now
        waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second);
      }
      if (waited < settle_) {
        const auto left = settle_ - waited;
        auto o = DeliveryOutcome::fail(DeliveryStatus::retry, "in_doubt_settling",
                                       "an earlier request may still be in progress at the target; " +
                                           std::to_string(left.count()) + " ms left of the settle time before " +
                                           (calls.offers_lookup() ? "the lookup" : "deciding"));
        o.in_doubt = true;
        o.deferred = true;
        o.retry_after = std::chrono::duration_cast<std::chrono::seconds>(left + std::chrono::milliseconds(999));
        ++settling;
        finish(i, std::move(o));
        continue;
      }
      if (calls.offers_lookup()) {
        auto built = calls.lookup_request(item);
        if (auto* o = std::get_if<DeliveryOutcome>(&built)) {
          finish(i, std::move(*o));
          continue;
        }
        first.push_back(held(std::move(std::get<net::Request>(built))));
        jobs.push_back({i, Phase::lookup});
        ++asked;
        continue;
      }
      if (policy_ == InDoubtPolicy::hold) {
        finish(i, DeliveryOutcome::fail(DeliveryStatus::reject, "in_doubt",
                                        "an earlier attempt may have reached the target and it offers no lookup; "
                                        "held for an operator to check and replay"));
        continue;
      }
    }
    if (auto req = call_of(i)) {
      first.push_back(std::move(*req));
      jobs.push_back({i, Phase::call});
    }
  }

  client.run(std::move(first), [&](std::size_t j, net::Response answer) -> std::optional<net::Request> {
    Job& job = jobs[j];
    const std::size_t i = job.item;
    const auto& item = batch.items[i];
    try {
      if (job.phase == Phase::existing) {  // the create was refused as a duplicate: which record?
        auto o = calls.read_lookup(answer);
        if (o.status == DeliveryStatus::delivered && o.reference.empty()) {
          o = DeliveryOutcome::fail(DeliveryStatus::retry, "lookup_not_found",
                                    "the create was refused as a duplicate, and the lookup does not find the record");
          o.in_doubt = true;
        } else if (o.status != DeliveryStatus::delivered) {
          o.detail = "lookup: " + o.detail;
          if (o.status == DeliveryStatus::retry) o.in_doubt = true;
        }
        o.latency_ms = answer.latency_ms;
        finish(i, std::move(o));
        return std::nullopt;
      }
      if (job.phase == Phase::lookup) {
        auto o = calls.read_lookup(answer);
        if (o.status == DeliveryStatus::delivered && o.reference.empty()) {  // not found: send it
          job.phase = Phase::call;
          return call_of(i);
        }
        if (o.status != DeliveryStatus::delivered) {
          o.detail = "lookup: " + o.detail;
          if (o.status == DeliveryStatus::retry) o.in_doubt = true;  // still unknown: ask again next time
        }
        o.latency_ms = answer.latency_ms;
        finish(i, std::move(o));
        return std::nullopt;
      }
      const bool update = !item.prior_reference.empty();
      if (!update) {
        if (auto e = calls.existing(answer)) {
          ++existing;
          if (e->status == DeliveryStatus::delivered && e->reference.empty() && calls.offers_lookup()) {
            auto built = calls.lookup_request(item);
            if (auto* lr = std::get_if<net::Request>(&built)) {
              job.phase = Phase::existing;
              return held(std::move(*lr));
            }
            finish(i, std::move(std::get<DeliveryOutcome>(built)));
            return std::nullopt;
          }
          e->latency_ms = answer.latency_ms;
          finish(i, std::move(*e));
          return std::nullopt;
        }
      }
      auto o = calls.read_call(answer, update);
      if (update && o.status == DeliveryStatus::delivered && o.reference.empty()) o.reference = item.prior_reference;
      o.latency_ms = answer.latency_ms;
      // The settle time counts from when the bridge gave up on the call.
      if (o.status == DeliveryStatus::retry && o.in_doubt) sent_now(item.outbox_id);
      finish(i, std::move(o));
    } catch (const std::exception& e) {
      auto o = DeliveryOutcome::fail(DeliveryStatus::retry, "sink_exception", e.what());
      o.in_doubt = answer.sent;
      if (o.in_doubt) sent_now(item.outbox_id);
      finish(i, std::move(o));
    }
    return std::nullopt;
  });

  spdlog::debug("soap target {}: batch {}: {} delivered ({} refused as existing), {} retry ({} settling), {} rejected "
                "({} looked up)",
                target_, batch.key, counts[0], existing, counts[1], settling, counts[2], asked);
}

}  // namespace reportbridge::soap
