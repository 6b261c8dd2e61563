// Expected failures as values: every fallible operation returns result<T>.
//
// An error carries a human sentence meant for the operator (it ends up in logs, in dead letters
// and in CLI messages), so write it as one: "catalog: plans[0].versions[1].charges[2].tiers:
// up_to must ascend". Exceptions are reserved for the process boundary (main).
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace meterflow {

struct error {
  std::string message;
  // The operation may succeed if tried again later (a broker down, a timeout); set by the Kafka
  // layer from librdkafka's classification.
  bool retriable = false;
};

template <class T = void>
using result = std::expected<T, error>;

// Builds the failure side of a result: `return fail("bad things: ", detail);`
template <class... Parts>
[[nodiscard]] std::unexpected<error> fail(Parts&&... parts) {
  std::string message;
  (message.append(std::forward<Parts>(parts)), ...);
  return std::unexpected<error>(error{std::move(message)});
}

}  // namespace meterflow
