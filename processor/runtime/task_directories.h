// The task directories of one instance: which stream thread owns each task, and the standby
// replicas kept for the tasks it does not own (num.standby.replicas).
//
// A task's directory (<state.dir>/<application.id>/task-<p>) is used by one party at a time: a
// stream thread running the task, or the standby that keeps it warm. A stream thread claims the
// directory before it opens the task (which stops the standby, or waits for another thread of
// this instance to let go) and releases it after closing the task.
//
// A standby tails the task's changelog partition and applies complete batches to the same
// directory, recording how far it got (changelog.h). When the instance is given the task, the
// task replays only the changelog records after that position instead of the whole partition.
//
// Placement: librdkafka's assignors cannot place standbys (Kafka Streams uses its own assignor),
// so with num.standby.replicas ≥ 1 an instance keeps a standby of every task it does not own once
// all its stream threads have joined the group (or 30 s after start). Every task then has a warm
// copy on every other instance: at least the number of replicas asked for, and a moved task
// always lands on a warm copy. docs/operations.md discusses the cost.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "base/result.h"
#include "processor/kafka/client.h"
#include "processor/runtime/run_options.h"

namespace meterflow {

class task_directories {
 public:
  using log_fn = std::function<void(const std::string&)>;
  task_directories(const run_options& options, std::string bootstrap, int partitions,
                   int threads, log_fn log);
  ~task_directories();

  // Stops partition p's standby and waits (up to a minute) until no other stream thread holds p.
  [[nodiscard]] result<void> claim(int32_t partition, int thread);
  void release(int32_t partition);
  // A stream thread had its first assignment; standbys start once every thread has.
  void joined(int thread);

  size_t owned() const;
  size_t standbys() const;

  // Keeps the standbys up to date until `stop` is set; run on a thread of its own when
  // num.standby.replicas > 0. Returns an error only for what a restart would not fix.
  [[nodiscard]] result<void> run_standbys(const std::atomic<bool>& stop);

 private:
  struct standby;
  result<void> reconcile();
  result<void> start_standby(int32_t partition);
  result<void> apply(const kafka::message& m);

  const run_options& options_;
  const std::string bootstrap_;
  const int partitions_;
  const int threads_;
  log_fn log_;

  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::map<int32_t, int> owner_;  // partition -> stream thread
  std::set<int> joined_;
  const std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  std::map<int32_t, std::unique_ptr<standby>> standbys_;
  bool reassign_ = false;
  std::unique_ptr<kafka::consumer> reader_;  // used by run_standbys only
};

}  // namespace meterflow
