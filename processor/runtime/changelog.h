// A task's changelog: how its local store and its changelog partition relate (DESIGN.md §Data flow).
//
// Every commit of a task writes one batch of store operations to <app>-state-changelog[p], ending
// with the task's metadata record (key "o"), which marks the batch complete. A snapshot record
// (key "S") says that a full image of the store follows (written when the local state got ahead
// of the changelog). Restoring a task and keeping a standby replica both replay complete batches
// into a local store with an applier; an incomplete last batch is held back.
//
// Writers are fenced. An owner that was evicted from the group (a lost session) may not know it
// yet and keep writing while the new owner writes too; their records interleave. So every task
// that opens gets a fresh writer id, writes a claim record (key "W") first, and restores from the
// changelog up to that claim; every record it writes carries its writer id in the header "w".
// The state a changelog describes is defined by one rule, the same for every reader: a record
// counts only if its writer made the latest claim before it (records without a writer header
// predate claims and count until the first claim). A batch of an evicted writer is thus ignored
// even when it completes later, and the new owner's state equals what any later restore builds.
// An owner learns that it was fenced when its own records stop being contiguous after its claim
// (task.h), and then publishes nothing more.
//
// The applier also records, under the local-only key "P", the changelog position its store
// matches: the next offset, the current writer and the commit sequence of the store's metadata
// there. A store with a position resumes from it instead of replaying the whole partition; an
// active task keeps its position current as its commits are acknowledged. "P" never goes to the
// changelog. (The engine's keys start with 'c', 'd', 's' or 'w'; the runtime's with 'o', 'P',
// 'S', 'W' or 'x'.)
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
inline const std::string claim_key = "W";     // changelog only: a writer takes over the task
inline const std::string position_key = "P";  // local only: the changelog position matched
inline constexpr std::string_view writer_header = "w";

// A task owner's id for one ownership (random, never 0; 0 = records without a writer header).
using writer_id = uint64_t;
writer_id new_writer_id();
std::string encode_writer(writer_id w);
// The writer of a changelog record (its "w" header), 0 if it has none.
writer_id writer_of(const kafka::message& m);

// The task metadata record: commit sequence, next input offset, next outbox sequence.
struct task_meta {
  int64_t commit_seq = 0;
  int64_t next_offset = kafka::kafka_offset::invalid().value;
  int64_t outbox_seq = 0;
};
std::string encode_meta(const task_meta& m);
std::optional<task_meta> decode_meta(std::string_view v);

// Where in the changelog a store stands (the "P" key).
struct position {
  int64_t offset = 0;     // the next changelog offset to apply
  writer_id writer = 0;   // the writer whose records count from there
  int64_t commit_seq = 0; // the commit sequence of the metadata the store had there
};
// The store's position; nullopt when it has none (or one in an older format).
result<std::optional<position>> read_position(state::kv_store& store);
[[nodiscard]] result<void> write_position(state::kv_store& store, const position& at);
// The commit sequence of the store's metadata, if it has any.
result<std::optional<int64_t>> read_commit_seq(state::kv_store& store);

// Replays changelog records into a store, one complete batch per write, by the writer rule above.
class applier {
 public:
  // `from_snapshot_only`: the partition no longer starts at offset 0 (retention), so records
  // before its first snapshot are skipped; the store is expected to be empty. `writer`: whose
  // records count at the first record fed (a position's writer; 0 from the partition's start).
  applier(state::kv_store& store, bool from_snapshot_only, writer_id writer)
      : store_(store), skip_until_snapshot_(from_snapshot_only), writer_(writer) {}

  // Feeds the record at `offset` (value nullopt: a tombstone). Writes the batch, with the new
  // position, when the record completes one; a claim moves the position too.
  [[nodiscard]] result<void> apply(int64_t offset, writer_id writer, std::string_view key,
                                   std::optional<std::string_view> value);
  [[nodiscard]] result<void> apply(const kafka::message& m);

  // Reports whether a batch of `writer` ending with commit sequence `seq` is applied from now on.
  void watch(writer_id writer, int64_t seq) { watch_ = {writer, seq}; }
  bool watched_applied() const { return watched_applied_; }

  int64_t records() const { return records_; }          // records fed
  int64_t batches() const { return batches_; }          // complete batches written
  bool saw_snapshot() const { return saw_snapshot_; }
  bool holds_partial_batch() const { return !pending_.empty(); }

 private:
  result<void> complete(int64_t offset, int64_t commit_seq);

  state::kv_store& store_;
  bool skip_until_snapshot_;
  writer_id writer_;
  state::write_batch pending_;
  std::optional<std::pair<writer_id, int64_t>> watch_;
  bool watched_applied_ = false;
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

 private:
  kafka::consumer& consumer_;
  std::string topic_;
  int32_t partition_;
};

}  // namespace meterflow::changelog
