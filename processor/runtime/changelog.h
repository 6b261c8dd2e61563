// A task's changelog: how its local store and its changelog partition relate (DESIGN.md §Data flow).
//
// Every commit of a task writes one batch of store operations to <app>-state-changelog[p], ending
// with the task's metadata record (key "o"), which marks the batch complete. A snapshot record
// (key "S") says that a full image of the store follows (written when the local state got ahead
// of the changelog). Restoring a task and keeping a standby replica both replay complete batches
// into a local store with a changelog_applier; an incomplete last batch is held back.
//
// The applier also records, under the local-only key "c", the changelog offset it has applied up
// to. A store with that key was built from the changelog (a restore or a standby), so a later
// owner can resume from that offset instead of replaying the whole partition. "c" never goes to
// the changelog, and an active task removes it when it starts committing on its own.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "processor/kafka/client.h"
#include "processor/runtime/run_options.h"
#include "state/kv_store.h"

namespace meterflow::changelog {

inline const std::string meta_key = "o";      // task metadata; ends a batch
inline const std::string snapshot_key = "S";  // changelog only: a full image follows
inline const std::string position_key = "c";  // local only: next changelog offset applied

// The task metadata record: commit sequence, next input offset, next outbox sequence.
struct task_meta {
  int64_t commit_seq = 0;
  int64_t next_offset = kafka::kafka_offset::invalid().value;
  int64_t outbox_seq = 0;
};
std::string encode_meta(const task_meta& m);
std::optional<task_meta> decode_meta(std::string_view v);

// The changelog offset a store built from the changelog has applied up to (the "c" key).
result<std::optional<int64_t>> read_position(state::kv_store& store);
// Records `offset` as the store's position (a store that matches the changelog up to there).
[[nodiscard]] result<void> write_position(state::kv_store& store, int64_t offset);
// The commit sequence of the store's metadata, if it has any.
result<std::optional<int64_t>> read_commit_seq(state::kv_store& store);

// Replays changelog records into a store, one complete batch per write.
class applier {
 public:
  // `from_snapshot_only`: the partition no longer starts at offset 0 (retention), so records
  // before its first snapshot are skipped; the store is expected to be empty.
  explicit applier(state::kv_store& store, bool from_snapshot_only = false)
      : store_(store), skip_until_snapshot_(from_snapshot_only) {}

  // Feeds the record at `offset` (value nullopt: a tombstone). Writes the batch, with the new
  // position, when the record is a metadata record.
  [[nodiscard]] result<void> apply(int64_t offset, std::string_view key,
                                   std::optional<std::string_view> value);

  int64_t records() const { return records_; }          // records fed
  int64_t batches() const { return batches_; }          // complete batches written
  bool saw_snapshot() const { return saw_snapshot_; }
  bool holds_partial_batch() const { return !pending_.empty(); }

 private:
  state::kv_store& store_;
  bool skip_until_snapshot_;
  state::write_batch pending_;
  int64_t records_ = 0;
  int64_t batches_ = 0;
  bool saw_snapshot_ = false;
};

// Low and high watermarks of partition `partition` of the changelog topic.
struct extent {
  int64_t low = 0;
  int64_t high = 0;
};

// Reads one changelog partition through a consumer outside the group.
class partition_reader {
 public:
  partition_reader(kafka::consumer& consumer, std::string topic, int32_t partition)
      : consumer_(consumer), topic_(std::move(topic)), partition_(partition) {}

  // Retries while brokers are unavailable, up to `patience`.
  [[nodiscard]] result<extent> watermarks(millis patience);
  // Hands every record in [from, to) to `fn`, in order.
  [[nodiscard]] result<void> read(int64_t from, int64_t to, millis patience,
                                  const std::function<result<void>(const kafka::message&)>& fn);
  // The commit sequence of the last record in [low, high) if it is a metadata record.
  [[nodiscard]] result<std::optional<int64_t>> last_commit_seq(const extent& e, millis patience);

 private:
  kafka::consumer& consumer_;
  std::string topic_;
  int32_t partition_;
};

}  // namespace meterflow::changelog
