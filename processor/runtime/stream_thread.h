// A stream thread: one member of the consumer group with its own consumer, producer and tasks
// (num.stream.threads of them per instance, like Kafka Streams' StreamThread).
//
// It opens a task per assigned partition, feeds records to their task, applies the
// subscriptions table and catalog reloads the runtime shares with it, and runs the commit cycle
// (task.h) every commit.interval. On an orderly revocation it commits the leaving tasks and
// flushes everything they produced, including the published-marks, before letting them go.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "processor/kafka/client.h"
#include "processor/runtime/run_options.h"
#include "processor/runtime/shared.h"
#include "processor/runtime/task.h"
#include "processor/runtime/task_directories.h"

namespace meterflow {

class metrics;

// What the runtime shares with its stream threads; all of it outlives them.
struct stream_context {
  const run_options* options = nullptr;
  std::string bootstrap;
  std::string client_id;  // unique per instance and thread: the transactional.id's base
  subscription_table* subscriptions = nullptr;
  catalog_box* catalogs = nullptr;
  task_directories* directories = nullptr;
  run_stats* stats = nullptr;
  metrics* meters = nullptr;
  std::function<void(const std::string&)> log;
};

class stream_thread {
 public:
  stream_thread(const stream_context& context, int index);
  ~stream_thread();

  // Joins the group and processes until `stop`; then commits, flushes and leaves.
  [[nodiscard]] result<void> run(const std::atomic<bool>& stop);

  // True when every assigned partition (if any) has been read to its end and all of it is
  // committed and acknowledged, as of the last commit (for --until-caught-up).
  bool caught_up() const { return caught_up_.load(); }
  // Counts over the thread's tasks, as of its last commit.
  engine_counters counters() const;

 private:
  result<void> start();
  result<void> process_until(const std::atomic<bool>& stop);
  result<void> on_assigned(std::vector<kafka::topic_partition_offset>& partitions);
  result<kafka::kafka_offset> open_task(int32_t p, std::shared_ptr<const catalog> cat);
  result<void> on_revoked(const std::vector<kafka::topic_partition_offset>& partitions, bool lost);
  // A commit whose acknowledgements are awaited (task.h: the commit protocol).
  struct commit_in_flight {
    std::vector<task*> tasks;
    std::vector<kafka::topic_partition_offset> offsets;
    kafka::delivery_tracker changelog, outputs;
    bool outputs_sent = false;
    std::chrono::steady_clock::time_point started;
  };
  result<void> commit(const std::vector<task*>& tasks);
  result<void> commit_transaction(commit_in_flight& c);
  result<void> advance(bool wait);
  result<void> drain();
  result<void> finished(const commit_in_flight& c);
  result<void> flush(const char* what);
  result<void> flush_marks(const std::vector<task*>& tasks);
  void apply_shared_changes();
  void forget(task* t);
  void abandon_consumer_if_never_assigned();
  result<void> reopen_fenced();
  // The tasks that are not fenced.
  std::vector<task*> all_tasks();
  void publish_counters();

  const stream_context& context_;
  const run_options& options_;
  const int index_;
  const std::atomic<bool>* stop_ = nullptr;
  task_env env_;
  std::unique_ptr<kafka::producer> producer_;
  std::unique_ptr<kafka::consumer> consumer_;
  std::vector<kafka::message> batch_;  // the records of one poll
  std::vector<task::input_record> run_;  // consecutive records of batch_ for one task
  std::map<int32_t, std::unique_ptr<task>> tasks_;
  std::deque<std::unique_ptr<commit_in_flight>> pipeline_;  // oldest first
  std::map<int32_t, size_t> subscriptions_applied_;  // per task: records of the table applied
  std::map<int32_t, std::chrono::steady_clock::time_point> caught_up_since_;
  uint64_t catalog_version_ = 0;
  bool joined_ = false;
  bool ever_assigned_ = false;  // some partition was assigned to this thread at some point
  bool failed_ = false;  // after an error: leave without committing
  bool first_record_seen_ = false;
  std::atomic<bool> caught_up_{false};
  mutable std::mutex counters_mutex_;
  engine_counters counters_;
};

}  // namespace meterflow
