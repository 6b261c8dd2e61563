// Riding out brokers that come and go: retry an operation while its error is retriable
// (error::retriable, set from librdkafka's classification in errors.h).
#pragma once

#include <chrono>
#include <thread>

#include "processor/kafka/types.h"

namespace meterflow::kafka {

// Calls `f` (returning a result<T>) until it succeeds, fails with an error that is not
// retriable, or `patience` is spent; waits half a second between attempts.
template <class F>
auto with_retries(millis patience, F&& f) -> decltype(f()) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    auto r = f();
    if (r || !r.error().retriable || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace meterflow::kafka
