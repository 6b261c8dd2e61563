// Reads topics from their low watermarks up to the high watermarks taken at start (assign, no
// consumer group, nothing committed), handing each record to a callback. Used by `totals` and
// `tail`, which both need "everything there is now, then stop".
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "processor/kafka/client.h"

namespace meterflow {

struct topic_count {
  int partitions = 0;
  int64_t records = 0;
  int64_t unavailable = 0;  // offsets below the low watermarks: deleted by retention
};

// Fails when a callback fails, when a record cannot be fetched (auto.offset.reset=error: records
// deleted while reading are an error, not a silent gap), or at the timeout.
result<std::map<std::string, topic_count>> read_topics_to_end(
    const std::string& bootstrap, const std::vector<std::string>& topics,
    const kafka::properties& settings, std::chrono::milliseconds timeout,
    const std::function<result<void>(const kafka::message&)>& on_record);

}  // namespace meterflow
