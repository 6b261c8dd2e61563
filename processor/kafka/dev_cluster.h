// The development Kafka cluster: librdkafka's mock cluster (rdkafka_mock.h), brokers speaking
// the Kafka protocol on 127.0.0.1, inside this process. Used by `meterflow dev-cluster`, by
// `meterflow run` without bootstrap.servers, and by integration tests.
//
// What it is NOT (librdkafka 2.0.2's mock; see also MEASUREMENTS.md) — design against these:
// - Retention is fixed: each partition keeps at most ~5 MiB or 100,000 records; older records
//   are deleted and the low watermark moves. A changelog longer than that cannot be restored,
//   and a long benchmark must spread over partitions or consume while producing.
// - No compaction: cleanup.policy and every other topic config are ignored (there are none).
// - No Admin API CreateTopics: create topics here (create_topic) or let clients auto-create
//   them (the mock's default of 4 partitions). admin::create_topics times out against it.
// - Transactions are accepted but not real: offsets sent with send_offsets_to_transaction are
//   not stored, and read_committed consumers also see aborted and still-open transactional
//   records. It runs exactly_once_v2 code paths; it cannot prove the guarantee.
// - Consumer groups work, slowly: a (re)join takes 3-5 s with session.timeout.ms=6000, ~45 s
//   with the default session timeout.
// - Taking a broker down disconnects it and refuses its connections; no leader moves, so
//   records for partitions it leads wait (within their message timeout) until it is up again.
// - Everything is in memory and gone when the process exits.
// - The brokers listen on random ports (2.0.2 cannot fix them); listen() puts a TCP forwarder
//   on a fixed port in front of the brokers (broker 1, or the first one up), enough to
//   bootstrap: the metadata clients receive then points them at the real brokers.
//
// Thread-safety: the mock runs its own threads; the methods here may be called from any one
// thread at a time.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "processor/kafka/client.h"

namespace meterflow::kafka {

namespace detail {
class tcp_forwarder;
}

class dev_cluster {
 public:
  // Starts `brokers` brokers (ids 1..brokers) on random loopback ports.
  static result<std::unique_ptr<dev_cluster>> create(int brokers);
  ~dev_cluster();
  dev_cluster(const dev_cluster&) = delete;
  dev_cluster& operator=(const dev_cluster&) = delete;

  int brokers() const { return brokers_; }
  // The brokers' own addresses, "127.0.0.1:p1,127.0.0.1:p2,...", in broker id order.
  std::string bootstraps() const;

  // Adds a fixed bootstrap address: a forwarder on 127.0.0.1:`port` (0: a free port) to broker
  // 1, or the first broker that is up. Returns "127.0.0.1:port". Errors: the port cannot be
  // bound. At most one per cluster.
  result<std::string> listen(uint16_t port);

  // Creates a topic with `partitions` partitions and min(3, brokers) replicas, leaders spread
  // round-robin (partition p is led by broker p % brokers + 1) so that taking one broker down
  // always affects some partitions. Errors: invalid name or count, the topic exists.
  result<void> create_topic(const std::string& name, int partitions);

  // Disconnects broker `id` and refuses new connections to it / accepts them again.
  result<void> broker_down(int32_t id);
  result<void> broker_up(int32_t id);

  // Makes broker `id` the coordinator of consumer group (`type` "group") or transactional id
  // (`type` "transaction") `key`, instead of the broker the key hashes to.
  result<void> set_coordinator(std::string_view type, const std::string& key, int32_t id);

  // The next `count` requests of type `api_key` (any broker) fail with `err`;
  // RD_KAFKA_RESP_ERR__TRANSPORT makes the broker drop the connection instead.
  result<void> push_request_errors(int16_t api_key, size_t count, rd_kafka_resp_err_t err);
  // Drops the pending injected errors of one request type / of every request type.
  void clear_request_errors(int16_t api_key);
  void clear_all_request_errors();

  rd_kafka_mock_cluster_t* native() const { return cluster_; }

 private:
  dev_cluster() = default;
  result<void> check_broker(int32_t id) const;

  handle_ptr handle_;                           // the client handle the mock cluster is attached to
  rd_kafka_mock_cluster_t* cluster_ = nullptr;  // destroyed before handle_ (see ~dev_cluster)
  int brokers_ = 0;
  std::unique_ptr<detail::tcp_forwarder> forwarder_;
};

// Kafka protocol request types by name ("Produce" -> 0, "Fetch" -> 1, ...), case-insensitive,
// with or without a "Request" suffix, or a number.
result<int16_t> parse_api_key(std::string_view name);
// The highest request type parse_api_key knows (clear_all_request_errors clears 0..this).
constexpr int16_t max_api_key = 67;

}  // namespace meterflow::kafka
