#pragma once
// The delivery loop both SOAP sink forms (built-in, WSDL) share: for each item
// of a batch, an in-doubt one waits out the settle time, then the lookup
// decides (found: delivered with that reference; not found: sent again), or,
// without a lookup, the in_doubt policy; every other item goes as a create,
// or as an update against its prior reference. The form supplies the
// requests and reads the answers (SoapCalls); the driver owns the order of
// calls and the in-doubt bookkeeping (when each item was last sent).
//
// Several deliver_each() may run at once (the dispatcher overlaps batches);
// they share the client's connection slots (net::HttpClient::run).
#include <chrono>
#include <cstdint>
#include <optional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "bridge/core/sink.hpp"
#include "bridge/net/http_client.hpp"

namespace reportbridge::soap {

enum class InDoubtPolicy { resend, hold };

// What one SOAP sink form supplies to the driver.
class SoapCalls {
 public:
  // The request to send for an item, or the outcome that settles it without a
  // call (a render or schema error, for instance).
  using Built = std::variant<net::Request, core::DeliveryOutcome>;

  virtual ~SoapCalls() = default;
  virtual bool offers_lookup() const = 0;
  virtual bool offers_update() const = 0;
  // The lookup of an in-doubt item by its external reference.
  virtual Built lookup_request(const core::DeliveryItem& item) = 0;
  // The lookup's answer: delivered with the reference (found), delivered with
  // an empty reference (not found), or the failure.
  virtual core::DeliveryOutcome read_lookup(const net::Response& response) = 0;
  // The create (update = false) or update of an item.
  virtual Built call_request(const core::DeliveryItem& item, bool update) = 0;
  virtual core::DeliveryOutcome read_call(const net::Response& response, bool update) = 0;
  // The safer path (#17): true when the create refuses a second record with
  // the same external reference; an in-doubt create is then resent at once.
  virtual bool create_refuses_duplicates() const { return false; }
  // A create's answer that is that refusal: delivered with the existing
  // record's reference (empty: ask the lookup for it). nullopt: not a refusal.
  virtual std::optional<core::DeliveryOutcome> existing(const net::Response&) { return std::nullopt; }
};

class SoapDriver {
 public:
  using Clock = std::chrono::steady_clock;

  // `settle`: an in-doubt item is neither looked up nor resent before this has
  // passed since its last send (after a restart: since the driver first saw it).
  SoapDriver(std::string target, InDoubtPolicy policy, std::chrono::milliseconds settle)
      : target_(std::move(target)), policy_(policy), settle_(settle) {}

  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch, SoapCalls& calls,
                                             net::HttpClient& client);
  // As deliver(), reporting each item's outcome the moment it is known.
  void deliver_each(const core::DeliveryBatch& batch, SoapCalls& calls, net::HttpClient& client,
                    const core::Sink::OutcomeReport& report);

  std::chrono::milliseconds settle_time() const { return settle_; }

 private:
  std::string target_;
  InDoubtPolicy policy_;
  std::chrono::milliseconds settle_;
  // outbox id -> when this process last sent it (or first saw it in doubt)
  std::mutex last_send_m_;
  std::unordered_map<std::int64_t, Clock::time_point> last_send_;
};

}  // namespace reportbridge::soap
