#include "processor/runtime/task.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/assert.h"
#include "processor/runtime/changelog.h"
#include "processor/kafka/retry.h"
#include "topology/codec.h"

namespace meterflow {

namespace {

using changelog::meta_key;
using changelog::snapshot_key;
constexpr char outbox_prefix = 'x';  // 'x' seq -> a chunk of outgoing records not yet published

std::string outbox_key(int64_t seq) {
  std::string k(1, outbox_prefix);
  byte_writer(k).key_i64(seq);
  return k;
}

}  // namespace

std::string task::meta_value() const {
  return changelog::encode_meta({commit_seq_, committed_offset_, outbox_seq_});
}

task::~task() = default;

std::string task_directory(const run_options& o, int32_t partition) {
  return (std::filesystem::path(o.state_dir) / o.application_id / ("task-" + std::to_string(partition)))
      .string();
}

result<std::unique_ptr<task>> task::open(const task_env& env, int32_t partition,
                                         std::shared_ptr<const catalog> cat,
                                         const std::vector<subscription_record>& subscriptions) {
  std::unique_ptr<task> t(new task(env, partition));
  const run_options& o = *env.options;
  t->dir_ = task_directory(o, partition);
  if (auto r = t->open_store(false); !r) return std::unexpected(r.error());
  if (auto r = t->claim(); !r) return std::unexpected(r.error());
  bool changelog_behind = false;
  if (auto r = t->restore(changelog_behind); !r) return std::unexpected(r.error());
  t->writes_ = std::make_unique<state::write_behind>(
      *t->store_, state::write_behind::limits{.max_age = o.state_flush_interval});

  auto restored = t->writes_->get(meta_key);
  if (!restored) return std::unexpected(restored.error());
  if (*restored) {
    auto m = changelog::decode_meta(**restored);
    if (!m) return fail(t->dir_, ": corrupt task metadata");
    t->commit_seq_ = m->commit_seq;
    t->next_offset_ = t->committed_offset_ = m->next_offset;
    t->outbox_seq_ = m->outbox_seq;
  }
  t->engine_ = std::make_unique<engine>(o.engine, std::move(cat));
  for (const auto& s : subscriptions) t->apply_subscription(s);
  if (auto r = t->engine_->restore(*t->writes_); !r)
    return fail("task ", std::to_string(partition), ": ", r.error().message);
  if (auto r = t->republish_outbox(); !r) return std::unexpected(r.error());
  if (changelog_behind)
    if (auto r = t->write_snapshot_to_changelog(); !r) return std::unexpected(r.error());
  return t;
}

result<std::unique_ptr<state::rocksdb_store>> open_task_store(const std::string& dir, bool wipe) {
  std::error_code ec;
  if (wipe) std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(dir, ": ", ec.message());
  state::rocksdb_options ro;
  ro.path = dir;
  // An instance holds a store per task, each memtable growing until it flushes: at the default
  // 128 MiB, 128 partitions could pin 16 GiB over a long run. 16 MiB (Kafka Streams' default)
  // bounds that to 2-4 GiB and still holds several commits per flush.
  ro.write_buffer_bytes = 16ull << 20;
  ro.block_cache_bytes = 16ull << 20;  // read only when a task opens
  // No RocksDB write-ahead log: the changelog is the store's log, as in Kafka Streams. A crash
  // loses what sat in the memtables (and the writes task::writes_ held); the store then holds an
  // earlier, consistent state (its metadata and changelog position "P" are written in the same
  // batches), and opening the task replays the changelog from that position (restore() below).
  // The log was a second copy of every commit through the kernel; end to end its removal
  // measured within the noise.
  ro.disable_wal = true;
  return state::rocksdb_store::open(ro);
}

result<void> task::open_store(bool wipe) {
  store_.reset();  // closed before a wipe
  auto s = open_task_store(dir_, wipe);
  if (!s) return std::unexpected(s.error());
  store_ = std::move(*s);
  return {};
}

// Takes the task over: a claim record with a fresh writer id, acknowledged before anything is
// read (changelog.h), so the restore below ends at a point no earlier owner can move.
result<void> task::claim() {
  writer_ = changelog::new_writer_id();
  writer_header_ = changelog::encode_writer(writer_);
  kafka::delivery_tracker tracker;
  const auto started = std::chrono::steady_clock::now();
  if (auto r = produce_and_wait(tracker, [&] { return produce_record(changelog::claim_key, writer_header_, &tracker); }); !r)
    return fail("task ", std::to_string(partition_), ": writing its claim to the changelog: ", r.error().message);
  // A task opens inside the consumer's rebalance callback: a slow claim holds up the thread's
  // whole assignment (and, if long, the group). Said, so that such a stall explains itself.
  const auto took = std::chrono::duration_cast<millis>(std::chrono::steady_clock::now() - started);
  if (took >= millis(1'000))
    env_.log("task " + std::to_string(partition_) + ": its changelog claim took " +
             std::to_string(took.count()) + " ms to be acknowledged");
  claim_offset_ = tracker.last_offset(partition_);
  if (claim_offset_ < 0)
    return fail("task ", std::to_string(partition_), ": the changelog claim got no offset");
  changelog_records_ = 1;
  expected_.clear();
  return {};
}

// Brings the local store level with the changelog up to this task's claim before the task
// processes anything:
//  - a store with a position (a standby, an earlier restore, or this instance's own commits)
//    replays the records from there. If the store holds commits of its own beyond the position
//    (committed, not yet acknowledged when it stopped), the replay must meet the last of them;
//    otherwise they never reached the changelog or were fenced, and the store is rebuilt;
//  - a store whose position is beyond the claim, or that has state while the changelog holds
//    nothing before the claim, is ahead of a changelog that lost records: `changelog_behind` is
//    set and the task writes a snapshot;
//  - otherwise (no local state, no position, or records gone to retention) a full restore.
result<void> task::restore(bool& changelog_behind) {
  const run_options& o = *env_.options;
  const millis patience(120'000);
  auto position = changelog::read_position(*store_);
  if (!position) return std::unexpected(position.error());
  auto local_seq = changelog::read_commit_seq(*store_);
  if (!local_seq) return std::unexpected(local_seq.error());
  const bool has_state = position->has_value() || local_seq->has_value();
  if (!has_state && claim_offset_ == 0) {
    // A fresh task on a fresh changelog: its claim is the partition's only record, so there is
    // nothing to read (a consumer for it cost ~20 ms of the ~35 ms a task took to open).
    changelog::applier applier(*store_, false, 0);
    return applier.apply(claim_offset_, writer_, changelog::claim_key, writer_header_);
  }

  auto reader = make_reader(o, env_.bootstrap, "restore");
  if (!reader) return std::unexpected(reader.error());
  changelog::partition_reader changelog(**reader, o.changelog_topic(), partition_);
  auto extent = changelog.watermarks(patience);
  if (!extent) return std::unexpected(extent.error());
  const auto started = std::chrono::steady_clock::now();
  if ((*position && (*position)->offset > claim_offset_) ||
      (!*position && *local_seq && extent->low == claim_offset_)) {
    changelog_behind = true;
    return changelog::write_position(*store_, {claim_offset_ + 1, writer_, local_seq->value_or(0)});
  }
  if (*position && (*position)->offset >= extent->low) {
    const changelog::position at = **position;
    std::optional<int64_t> watch;
    if (local_seq->value_or(0) != at.commit_seq) watch = local_seq->value_or(0);
    auto met = replay(changelog, at.offset, at.writer, false, watch);
    if (!met) return std::unexpected(met.error());
    if (!watch || *met) {
      restored_.kind = "incremental";  // from a standby's or this instance's own position
      restored_.records = claim_offset_ + 1 - at.offset;
    } else {
      env_.log("task " + std::to_string(partition_) + ": local commits up to " + std::to_string(*watch) +
               " are not in the changelog (never acknowledged, or written after this instance was "
               "evicted); rebuilding the state from the changelog");
    }
  }
  if (restored_.kind.empty()) {  // nothing to resume from: the whole changelog
    if (has_state)
      if (auto r = open_store(true); !r) return r;
    if (auto r = replay(changelog, extent->low, 0, extent->low > 0, std::nullopt); !r)
      return std::unexpected(r.error());
    if (!has_state && claim_offset_ == extent->low) return {};  // a fresh task: nothing before its claim
    restored_.kind = "full";
    restored_.records = claim_offset_ + 1 - extent->low;
  }
  restored_.duration = std::chrono::duration_cast<millis>(std::chrono::steady_clock::now() - started);
  env_.log("task " + std::to_string(partition_) + ": restored " + std::to_string(restored_.records) +
           " changelog records (" + restored_.kind + ", up to its claim at offset " +
           std::to_string(claim_offset_) + ") in " + std::to_string(restored_.duration.count()) + " ms");
  return {};
}

// Applies the changelog from `from` through this task's claim. Returns whether the batch of
// `writer` ending with commit `watch_seq` was among those applied (false without one).
result<bool> task::replay(changelog::partition_reader& changelog, int64_t from,
                          changelog::writer_id writer, bool need_snapshot,
                          std::optional<int64_t> watch_seq) {
  const run_options& o = *env_.options;
  changelog::applier applier(*store_, need_snapshot, writer);
  if (watch_seq) applier.watch(writer, *watch_seq);
  auto r = changelog.read(from, claim_offset_ + 1, millis(120'000),
                          [&](const kafka::message& m) { return applier.apply(m); });
  if (!r) return std::unexpected(r.error());
  if (need_snapshot && !applier.saw_snapshot())
    return fail("task ", std::to_string(partition_), ": the changelog ", o.changelog_topic(), "[",
                std::to_string(partition_), "] starts at offset ", std::to_string(from),
                " and holds no snapshot: the records restoring needs are gone (retention). "
                "Refusing to run on partial state; restore the state directory or re-process "
                "the input from the start with a new application.id");
  return applier.watched_applied();
}

result<void> task::produce_and_wait(kafka::delivery_tracker& tracker,
                                    const std::function<result<void>()>& produce) {
  const millis patience(120'000);
  const bool eos = env_.options->guarantee == processing_guarantee::exactly_once_v2;
  if (eos)
    if (auto r = env_.producer->begin_transaction(); !r) return r;
  if (auto r = produce(); !r) return r;
  if (eos) {
    if (auto r = env_.producer->commit_transaction(patience); !r) return r;
  }
  auto r = kafka::with_retries(patience, [&] { return env_.producer->flush(millis(5'000)); });
  if (!r) return r;
  if (tracker.failed > 0) return fail(std::to_string(tracker.failed), " record(s) not delivered: ", tracker.first_error);
  return {};
}

result<void> task::produce_record(std::string_view key, std::optional<std::string_view> value,
                                  kafka::delivery_tracker* tracker) {
  const kafka::header headers[] = {{changelog::writer_header, writer_header_}};
  // A delete goes out as a tombstone: a value view without data is a null value for
  // librdkafka (an empty put keeps its non-null, zero-length data).
  if (auto r = env_.producer->produce(env_.options->changelog_topic(), kafka::partition_id{partition_}, key,
                                      value.value_or(std::string_view{}), headers, tracker);
      !r)
    return r;
  ++changelog_records_;
  return {};
}

result<bool> task::changelog_acknowledged(const kafka::delivery_tracker& tracker) {
  // The last entry of this tracker holds its last record; earlier entries are settled with it.
  auto last = std::ranges::find(expected_.rbegin(), expected_.rend(), &tracker, &expected_end::tracker);
  if (last == expected_.rend() || fenced_) return !fenced_;
  const expected_end end = *last;
  expected_.erase(expected_.begin(), last.base());
  const bool eos = env_.options->guarantee == processing_guarantee::exactly_once_v2;
  const int64_t at = tracker.last_offset(partition_);
  if (!eos && at != end.offset) {
    fenced_ = true;
    env_.log("task " + std::to_string(partition_) + ": fenced: its changelog record expected at offset " +
             std::to_string(end.offset) + " landed at " + std::to_string(at) +
             " (another owner wrote to the partition after this one's claim); it publishes nothing more");
    return false;
  }
  if (at < 0) return true;
  if (auto r = changelog::write_position(*writes_, {at + 1, writer_, end.commit_seq}); !r)
    return std::unexpected(r.error());
  return true;
}

result<void> task::produce_ops(const state::write_batch& batch, kafka::delivery_tracker* tracker) {
  if (batch.empty()) return {};
  for (const auto& op : batch.ops()) {
    if (op.kind == state::write_batch::op_kind::del_range)
      return fail("task ", std::to_string(partition_),
                  ": a range delete cannot go to a changelog (engine state must delete by key)");
    std::optional<std::string_view> value;
    if (op.kind == state::write_batch::op_kind::put) value = op.value;
    if (auto r = produce_record(op.key, value, tracker); !r) return r;
    if (op.key == meta_key && value)
      if (auto m = changelog::decode_meta(*value)) produced_seq_ = m->commit_seq;
  }
  if (tracker) expected_.push_back({tracker, claim_offset_ + changelog_records_ - 1, produced_seq_});
  return {};
}

result<void> task::write_snapshot_to_changelog() {
  kafka::delivery_tracker tracker;
  auto produce_all = [&]() -> result<void> {
    state::write_batch image;
    image.put(snapshot_key, std::to_string(commit_seq_));
    std::optional<std::string> meta;
    auto scan = writes_->scan_prefix("", [&](std::string_view k, std::string_view v) {
      if (k == meta_key)
        meta.emplace(v);
      else if (k != changelog::position_key)
        image.put(k, v);
      return true;
    });
    if (!scan) return scan;
    image.put(meta_key, meta.value_or(meta_value()));
    return produce_ops(image, &tracker);
  };
  if (auto r = produce_and_wait(tracker, produce_all); !r) return r;
  auto ok = changelog_acknowledged(tracker);
  if (!ok) return std::unexpected(ok.error());
  if (!*ok) return fail("task ", std::to_string(partition_), ": fenced while writing its snapshot");
  env_.log("task " + std::to_string(partition_) + ": wrote a snapshot of its state to the changelog");
  return {};
}

result<void> task::republish_outbox() {
  std::optional<error> failure;
  outbox_batch left;
  size_t records = 0;
  auto scan = writes_->scan_prefix(std::string(1, outbox_prefix), [&](std::string_view k,
                                                                      std::string_view v) {
    left.keys.emplace_back(k);
    auto n = outbox::decode_chunk(v, left.records);
    if (!n) {
      failure = error{"task " + std::to_string(partition_) + ": " + n.error().message};
      return false;
    }
    records += *n;
    return true;
  });
  if (!scan) return scan;
  if (failure) return std::unexpected(*failure);
  if (left.keys.empty()) return {};
  env_.log("task " + std::to_string(partition_) + ": republishing " +
           std::to_string(records) + " records left in the outbox");
  outbox_.push_back(std::move(left));
  kafka::delivery_tracker tracker;
  if (auto r = produce_and_wait(tracker, [&] { return produce_outputs(&tracker); }); !r) return r;
  return mark_published();
}

void task::apply_subscription(const subscription_record& r) {
  auto applied = engine_->apply_subscription(r);
  if (!applied)
    env_.log("task " + std::to_string(partition_) + ": subscription ignored: " + applied.error().message);
  else if (*applied)
    env_.log("task " + std::to_string(partition_) + ": " + **applied);
}

int64_t task::process(std::span<const input_record> records, timestamp wall_clock) {
  values_.clear();
  offsets_.clear();
  int64_t skipped = 0;
  for (const input_record& r : records) {
    // A record from before this task's position has been counted already.
    if (next_offset_ >= 0 && r.offset < next_offset_) continue;
    if (next_offset_ >= 0) skipped += r.offset - next_offset_;
    next_offset_ = r.offset + 1;
    values_.push_back(r.value);
    offsets_.push_back(r.offset);
  }
  if (values_.empty()) return 0;
  engine_->process_batch(values_, wall_clock, fresh_,
                         [this](size_t i) { fresh_.set_source_offset(offsets_[i]); });
  dirty_ = true;
  return skipped;
}

void task::close_idle(timestamp wall_clock) {
  const size_t before = fresh_.records();
  fresh_.set_source_offset(-1);
  engine_->close_idle(wall_clock, fresh_);
  if (fresh_.records() != before) dirty_ = true;
}

result<void> task::prepare_commit() {
  batch_.clear();
  engine_->checkpoint(batch_);
  outbox_batch& out = outbox_.emplace_back();
  out.records = fresh_.take();
  // The same bytes, compressed in chunks, go to the store and the changelog.
  outbox::seal_chunks(out.records, [&](std::string chunk) {
    out.keys.push_back(outbox_key(outbox_seq_++));
    batch_.put(out.keys.back(), std::move(chunk));
  });
  ++commit_seq_;
  committed_offset_ = next_offset_;
  batch_.put(meta_key, meta_value());  // last: it marks the batch complete on the changelog
  if (auto r = writes_->write(batch_); !r) return r;
  dirty_ = false;
  return {};
}

result<void> task::produce_changelog(kafka::delivery_tracker* tracker) {
  if (auto r = produce_marks(tracker); !r) return r;
  if (auto r = produce_ops(batch_, tracker); !r) return r;
  batch_.clear();
  return {};
}

result<void> task::produce_marks(kafka::delivery_tracker* tracker) {
  if (fenced_) return {};  // its writes no longer count
  if (auto r = produce_ops(unsent_, tracker); !r) return r;
  unsent_.clear();
  return {};
}

result<void> task::produce_outputs(kafka::delivery_tracker* tracker) {
  MF_ASSERT(outputs_produced_ < outbox_.size(), "produce_outputs without a prepared batch");
  const run_options& o = *env_.options;
  outbox::record_reader records(outbox_[outputs_produced_++].records);
  outbox::record_view r;
  while (records.next(r)) {
    std::optional<std::string_view> key;
    if (!r.key.empty()) key = r.key;
    switch (r.kind) {
      case output_kind::charge:
        if (auto p = env_.producer->produce(o.charges_topic, kafka::partition_id::unassigned(), key, r.value, {}, tracker); !p) return p;
        break;
      case output_kind::adjustment:
        if (auto p = env_.producer->produce(o.adjustments_topic, kafka::partition_id::unassigned(), key, r.value, {}, tracker); !p) return p;
        break;
      case output_kind::alert:
        if (auto p = env_.producer->produce(o.alerts_topic, kafka::partition_id::unassigned(), key, r.value, {}, tracker); !p) return p;
        break;
      case output_kind::dead_letter: {
        const std::string partition = std::to_string(partition_);
        const std::string offset = std::to_string(r.source_offset);
        const kafka::header headers[] = {
            {"reason", to_string(r.reason)},
            {"error", r.error},
            {"topic", o.input_topic},
            {"partition", partition},
            {"offset", offset},
        };
        if (auto p = env_.producer->produce(o.dlq_topic, kafka::partition_id::unassigned(), key, r.value, headers, tracker); !p) return p;
        break;
      }
    }
  }
  MF_ASSERT(records.ok(), "outbox records that do not decode (written here or checked on restore)");
  return {};
}

result<void> task::mark_published() {
  MF_ASSERT(outputs_produced_ > 0, "mark_published before produce_outputs");
  outbox_batch published = std::move(outbox_.front());
  outbox_.pop_front();
  --outputs_produced_;
  if (published.keys.empty()) return {};
  state::write_batch done;
  for (const std::string& key : published.keys) done.del(key);
  ++commit_seq_;
  done.put(meta_key, meta_value());
  if (auto r = writes_->write(done); !r) return r;
  for (const auto& op : done.ops()) {
    if (op.kind == state::write_batch::op_kind::del)
      unsent_.del(op.key);
    else
      unsent_.put(op.key, op.value);
  }
  return {};
}

}  // namespace meterflow
