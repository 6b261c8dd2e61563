// `meterflow produce`: loads a JSONL file into a topic, one record per non-blank line.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace meterflow {

struct produce_options {
  // bootstrap.servers. Required.
  std::string bootstrap;
  // Target topic. Required.
  std::string topic;
  // The JSONL file. Required.
  std::string file;
  // Top-level string member whose value is the record key; lines without it (or not JSON) get a
  // null key and are still produced unchanged. Default: "subject" (meter events key by tenant).
  std::string key_field = "subject";
  // Produce every record to this partition instead of the partitioner's choice (-1: by key,
  // Java-compatible murmur2; random for null keys). Default: -1.
  int partition = -1;
  // Read the topic's partition count first and fail if the topic does not exist, instead of
  // letting the broker auto-create it with its default partition count. Default: false.
  bool partitions_from_topic = false;
  // How long to wait for every record to be acknowledged. Default: 60 s.
  std::chrono::milliseconds timeout{60'000};
  // librdkafka settings, "key=value" each (TLS, SASL, linger.ms, ...). Default: none.
  std::vector<std::string> kafka_settings;
};

// Produces every non-blank line (value = the line's bytes, key = its key_field) with the
// idempotent producer and waits for all acknowledgements. Prints how many records were produced
// on stdout. Returns 0 when all were acknowledged, 2 otherwise (the reason on stderr).
int run_produce(const produce_options& options);

}  // namespace meterflow
