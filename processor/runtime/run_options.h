// Configuration of `meterflow run`: Kafka Streams–style properties (DESIGN.md §Command line).
//
// Every property is listed here with its default; an unknown property, or a value that does not
// parse, fails start-up with a message naming the file, line and property. Properties starting
// with `kafka.` are passed to librdkafka without the prefix (TLS, SASL, timeouts), and checked by
// librdkafka itself when the clients are created.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "processor/kafka/config.h"
#include "topology/engine.h"

namespace meterflow {

enum class processing_guarantee { at_least_once, exactly_once_v2 };

struct run_options {
  std::string application_id = "meterflow";  // Consumer group, changelog and state names. Default: meterflow.
  std::string bootstrap_servers;  // Kafka brokers. Default: none = start an embedded development cluster.
  std::string state_dir = "meterflow-state";  // Local state: <state.dir>/<application.id>/task-<p>. Default: ./meterflow-state.
  processing_guarantee guarantee = processing_guarantee::at_least_once;  // Default: at_least_once (outbox).
  int num_standby_replicas = 0;   // Warm copies of other tasks' state (task_directories.h). Default: 0.
  int num_stream_threads = 1;     // Processing threads, each a group member. Default: 1.
  millis commit_interval{100};    // Time between commits. Default: 100 ms.
  int64_t commit_records = 10'000;  // Records a stream thread processes before it commits, whatever the interval. Default: 10,000.
  // How long a task may hold its commits' state writes before writing them to its RocksDB store
  // (merged: each key once); the changelog has them meanwhile. 0 writes at every commit. Default: 10 s.
  millis state_flush_interval{10'000};
  std::string catalog_path;       // Pricing catalog file; reloaded on SIGHUP and on change. Required.
  engine_options engine;          // window.size.ms, grace.ms, settlement.window.ms, max.future.ms, max.event.bytes
  millis idle_close{60'000};      // Quiet time after which the wall clock closes windows. Default: 60 s.
  std::string metrics_address;    // host:port of the Prometheus endpoint (metrics.h). Default: none.

  std::string input_topic = "meter-events";
  std::string subscriptions_topic = "subscriptions";
  std::string charges_topic = "rated-charges";
  std::string adjustments_topic = "charge-adjustments";
  std::string alerts_topic = "usage-alerts";
  std::string dlq_topic = "meter-events-dlq";

  int dev_cluster_brokers = 1;      // Embedded cluster only: brokers. Default: 1.
  int dev_cluster_partitions = 8;   // Embedded cluster only: partitions of every topic. Default: 8.

  kafka::properties kafka;  // kafka.* with the prefix removed

  // Parses properties; errors name the property and where it was set.
  static result<run_options> from_properties(const kafka::properties& props);
  result<void> validate() const;

  std::string changelog_topic() const { return application_id + "-state-changelog"; }
};

namespace kafka {
class consumer;
}
// A consumer that reads assigned partitions outside the group (changelog restores, the
// subscriptions table): short fetch waits, end-of-partition events on.
result<std::unique_ptr<kafka::consumer>> make_reader(const run_options& o, const std::string& bootstrap,
                                                     const std::string& purpose);

}  // namespace meterflow
