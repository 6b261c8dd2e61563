// A task: one input partition's processing, state and outputs (DESIGN.md §Data flow).
//
// State lives in its own RocksDB under <state.dir>/<application.id>/task-<partition>. Every
// commit puts the engine's state changes, the outgoing records (the outbox) and the next input
// offset into one WriteBatch; the same operations go to the changelog partition, ending with the
// offset record, which marks the batch complete. Restoring replays complete batches only.
// The store receives its batches through a state::write_behind: held in memory, merged by key,
// and written at least every state.flush.interval.ms (and before any read, and when the task
// closes). The store is thus at most that far behind; opening the task replays the changelog
// from the store's own position, as it does after a crash.
//
// Commit protocol, driven by the stream thread for its tasks (stream_thread.h):
//   prepare_commit()    local WriteBatch: state + outbox + offset (atomic); the outbox records
//                       form one batch, queued behind earlier batches not yet published, and
//                       are stored in compressed chunks of many records (outbox.h)
//   produce_changelog() the WriteBatch's operations to <app>-state-changelog[p]
//   --- acknowledged (at_least_once) — or everything below in one transaction (exactly_once_v2)
//   produce_outputs()   the oldest outbox batch not yet produced, to the output topics
//   --- acknowledged
//   mark_published()    delete that batch's outbox chunks (a small WriteBatch of its own)
//   produce_marks()     that WriteBatch to the changelog (at_least_once: right away, acknowledged
//                       with later records; exactly_once_v2: in the next transaction). A task
//                       that leaves flushes them first, so its next owner does not republish
//                       records that were delivered.
// Under at_least_once several commits may be in flight (processing goes on meanwhile); each
// stage still happens in commit order, and outputs never leave before their changelog batch is
// acknowledged. The offset in the metadata is always the one of the last prepared commit.
// A crash anywhere either replays input (nothing of the batch was published) or republishes
// identical outbox records (same ids, same bytes) when the task opens again.
//
// Fencing (changelog.h): a task opens by writing a claim record with a fresh writer id and
// restoring up to it. Its changelog records then occupy consecutive offsets after the claim, as
// long as nobody else writes to the partition; changelog_acknowledged() checks that for each
// acknowledged commit before its outputs may leave. A gap means another owner claimed the task
// (this one was evicted from the group without knowing) or an evicted one is still writing: the
// task is fenced, publishes nothing more, and must be reopened (a new claim) if it is still ours.
// Under exactly_once_v2 transaction markers take offsets, so the check is not made there; the
// broker fences an evicted member's transaction instead (its offsets carry the group generation).
//
// Thread-safety: a task is used by one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "processor/kafka/client.h"
#include "processor/runtime/changelog.h"
#include "processor/runtime/outbox.h"
#include "processor/runtime/run_options.h"
#include "state/rocksdb_store.h"
#include "state/write_behind.h"
#include "topology/engine.h"

namespace meterflow {

// What the tasks of a runtime share; owned by the runtime.
struct task_env {
  const run_options* options = nullptr;
  kafka::producer* producer = nullptr;
  std::string bootstrap;
  // Where status lines go (restores, republished outboxes).
  std::function<void(const std::string&)> log;
};

// <state.dir>/<application.id>/task-<partition>: the task's store (active or standby).
std::string task_directory(const run_options& o, int32_t partition);
// Opens (creating, or first deleting with `wipe`) the store in a task directory.
result<std::unique_ptr<state::rocksdb_store>> open_task_store(const std::string& dir, bool wipe);

class task {
 public:
  // Opens (or restores) the task's state and republishes any outbox left by a crash.
  // `subscriptions` is the full history of this partition's subscription records, in order.
  static result<std::unique_ptr<task>> open(const task_env& env, int32_t partition,
                                            std::shared_ptr<const catalog> cat,
                                            const std::vector<subscription_record>& subscriptions);
  ~task();

  int32_t partition() const { return partition_; }
  // The next input offset to read after the last prepared commit, or invalid for a fresh task.
  kafka::kafka_offset next_offset() const { return kafka::kafka_offset{committed_offset_}; }

  void apply_subscription(const subscription_record& r);
  // A reloaded catalog: for segments that start from now on.
  void set_catalog(std::shared_ptr<const catalog> cat) { engine_->set_catalog(std::move(cat)); }
  // Processes input records of this task's partition, offsets ascending (consecutive records of
  // a fetch: the engine decodes a few ahead). Records before the task's position (fetched before
  // a rebalance handed the partition back) are skipped, counted already. Returns how many
  // offsets were jumped over after the previous record (transaction markers; anything else is a
  // record never received).
  struct input_record {
    std::string_view value;
    int64_t offset;
  };
  int64_t process(std::span<const input_record> records, timestamp wall_clock);
  int64_t process(std::string_view value, int64_t offset, timestamp wall_clock) {
    const input_record r{value, offset};
    return process(std::span(&r, 1), wall_clock);
  }
  // Closes by the wall clock what a quiet partition owes (SPEC §4 idle.close).
  void close_idle(timestamp wall_clock);

  // True when records or state changed since the last commit.
  bool dirty() const { return dirty_; }

  // Only for a dirty task. Each stage may count its records in a tracker (kafka/client.h).
  [[nodiscard]] result<void> prepare_commit();
  [[nodiscard]] result<void> produce_changelog(kafka::delivery_tracker* tracker = nullptr);
  [[nodiscard]] result<void> produce_outputs(kafka::delivery_tracker* tracker = nullptr);
  [[nodiscard]] result<void> mark_published();
  [[nodiscard]] result<void> produce_marks(kafka::delivery_tracker* tracker = nullptr);
  bool has_unsent_marks() const { return !unsent_.empty(); }
  // After `tracker` settled: false if the task's records it counted are not where they must be
  // (fenced: outputs must not be produced, and the task must be reopened); otherwise the store's
  // changelog position moves past them.
  [[nodiscard]] result<bool> changelog_acknowledged(const kafka::delivery_tracker& tracker);
  bool fenced() const { return fenced_; }

  // How the task's state was restored when it opened (kind empty: local state was current).
  struct restore_report {
    std::string kind;  // "full", or "incremental" (from the store's position)
    int64_t records = 0;
    millis duration{0};
  };
  const restore_report& restored() const { return restored_; }

  const engine_counters& counters() const { return engine_->counters(); }

 private:
  task(const task_env& env, int32_t partition) : env_(env), partition_(partition) {}
  result<void> open_store(bool wipe);
  result<void> claim();
  result<void> restore(bool& changelog_behind);
  result<bool> replay(changelog::partition_reader& changelog, int64_t from,
                      changelog::writer_id writer, bool need_snapshot,
                      std::optional<int64_t> watch_seq);
  result<void> write_snapshot_to_changelog();
  result<void> republish_outbox();
  // Produces records and waits for their acknowledgement (in a transaction under exactly_once_v2).
  result<void> produce_and_wait(kafka::delivery_tracker& tracker,
                                const std::function<result<void>()>& produce);
  result<void> produce_record(std::string_view key, std::optional<std::string_view> value,
                              kafka::delivery_tracker* tracker);
  result<void> produce_ops(const state::write_batch& batch, kafka::delivery_tracker* tracker);
  std::string meta_value() const;

  // One commit's outgoing records (encoded, outbox.h) and the store keys of the outbox chunks
  // that hold them.
  struct outbox_batch {
    std::vector<std::string> keys;
    std::string records;
  };

  const task_env& env_;
  int32_t partition_;
  std::string dir_;
  restore_report restored_;
  std::unique_ptr<state::rocksdb_store> store_;
  // Once the task is open, every access to the store goes through this: it holds the commits'
  // writes, merged by key, for up to state.flush.interval (the changelog has them meanwhile).
  // Declared after store_, so destroyed (flushed) before it closes.
  std::unique_ptr<state::write_behind> writes_;
  std::unique_ptr<engine> engine_;
  outbox::record_buffer fresh_;            // emitted since the last prepare_commit
  std::deque<outbox_batch> outbox_;          // prepared batches not yet marked published
  size_t outputs_produced_ = 0;              // of those, the first ones whose outputs were produced
  state::write_batch batch_;               // the prepared batch (for the changelog)
  state::write_batch unsent_;              // published-marks not yet on the changelog
  int64_t next_offset_ = kafka::kafka_offset::invalid().value;       // after the last record processed
  std::vector<std::string_view> values_;  // process()'s records to apply, and their offsets
  std::vector<int64_t> offsets_;
  int64_t committed_offset_ = kafka::kafka_offset::invalid().value;  // ... as of the last prepare_commit
  int64_t commit_seq_ = 0;
  int64_t outbox_seq_ = 0;
  bool dirty_ = false;

  // Fencing: this ownership's writer id, the offset of its claim, the records written since
  // (the claim included), and per tracker the offset its last record must get.
  changelog::writer_id writer_ = 0;
  std::string writer_header_;  // writer_ encoded, the "w" header of every record
  int64_t claim_offset_ = -1;
  int64_t changelog_records_ = 0;
  int64_t produced_seq_ = 0;  // commit sequence of the last metadata record produced
  struct expected_end {
    const kafka::delivery_tracker* tracker;
    int64_t offset;      // of the last record counted by `tracker`
    int64_t commit_seq;  // of the last metadata record up to there
  };
  std::deque<expected_end> expected_;
  bool fenced_ = false;
};

}  // namespace meterflow
