#include "processor/runtime/task.h"

#include <filesystem>
#include <chrono>

#include "base/assert.h"
#include "processor/runtime/changelog.h"
#include "topology/codec.h"

namespace meterflow {

namespace {

using changelog::meta_key;
using changelog::snapshot_key;
constexpr char outbox_prefix = 'x';  // 'x' seq -> an outgoing record not yet published

std::string outbox_key(int64_t seq) {
  std::string k(1, outbox_prefix);
  byte_writer(k).key_i64(seq);
  return k;
}

std::string encode_outgoing(const output_record& r, int64_t source_offset) {
  std::string v;
  byte_writer(v)
      .u8(static_cast<uint8_t>(r.kind))
      .u8(static_cast<uint8_t>(r.reason))
      .i64(source_offset)
      .str(r.key)
      .str(r.value)
      .str(r.error);
  return v;
}

bool decode_outgoing(std::string_view v, output_record& r, int64_t& source_offset) {
  byte_reader rd(v);
  uint8_t kind = 0, reason = 0;
  bool ok = rd.u8(kind) && rd.u8(reason) && rd.i64(source_offset) && rd.str(r.key) &&
            rd.str(r.value) && rd.str(r.error) && rd.at_end();
  if (!ok || kind > static_cast<uint8_t>(output_kind::dead_letter) ||
      reason >= dead_letter_reason_count)
    return false;
  r.kind = static_cast<output_kind>(kind);
  r.reason = static_cast<dead_letter_reason>(reason);
  return true;
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
  bool changelog_behind = false;
  if (auto r = t->restore(changelog_behind); !r) return std::unexpected(r.error());

  auto restored = t->store_->get(meta_key);
  if (!restored) return std::unexpected(restored.error());
  if (*restored) {
    auto m = changelog::decode_meta(**restored);
    if (!m) return fail(t->dir_, ": corrupt task metadata");
    t->commit_seq_ = m->commit_seq;
    t->next_offset_ = t->committed_offset_ = m->next_offset;
    t->outbox_seq_ = m->outbox_seq;
  }
  // From now on the task commits on its own; the position of a standby no longer applies.
  state::write_batch active;
  active.del(changelog::position_key);
  if (auto r = t->store_->write(active); !r) return std::unexpected(r.error());

  t->engine_ = std::make_unique<engine>(o.engine, std::move(cat));
  for (const auto& s : subscriptions) t->apply_subscription(s);
  if (auto r = t->engine_->restore(*t->store_); !r)
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
  return state::rocksdb_store::open(ro);
}

result<void> task::open_store(bool wipe) {
  store_.reset();  // closed before a wipe
  auto s = open_task_store(dir_, wipe);
  if (!s) return std::unexpected(s.error());
  store_ = std::move(*s);
  return {};
}

// Brings the local store level with the changelog before the task processes anything:
//  - a store built from the changelog (a standby or an earlier restore: it has a position)
//    replays only the records after its position;
//  - a store this instance committed itself is used as it is when the changelog ends with the
//    same commit; when the local state is ahead (a crash before the changelog acknowledged, or a
//    deleted changelog) `changelog_behind` is set and the task writes a snapshot; when the
//    changelog is ahead (the task ran elsewhere since) the store is rebuilt from the changelog;
//  - no local state: a full restore, or nothing for a fresh task.
result<void> task::restore(bool& changelog_behind) {
  const run_options& o = *env_.options;
  const millis patience(120'000);
  auto reader = make_reader(o, env_.bootstrap, "restore");
  if (!reader) return std::unexpected(reader.error());
  changelog::partition_reader changelog(**reader, o.changelog_topic(), partition_);
  auto extent = changelog.watermarks(patience);
  if (!extent) return std::unexpected(extent.error());
  auto position = changelog::read_position(*store_);
  if (!position) return std::unexpected(position.error());
  auto local_seq = changelog::read_commit_seq(*store_);
  if (!local_seq) return std::unexpected(local_seq.error());

  int64_t from = extent->low;
  bool full = true;
  if (*position && **position >= extent->low && **position <= extent->high) {
    from = **position;
    full = false;
  } else if (*position && **position > extent->high) {
    changelog_behind = true;  // the changelog lost records this store has
    return {};
  } else if (!*position && *local_seq) {
    if (extent->high <= extent->low) {
      changelog_behind = true;
      return {};
    }
    auto last = changelog.last_commit_seq(*extent, patience);
    if (!last) return std::unexpected(last.error());
    if (*last && **last == **local_seq) return {};
    if (!*last || **last < **local_seq) {
      changelog_behind = true;
      return {};
    }
    env_.log("task " + std::to_string(partition_) + ": local state (commit " +
             std::to_string(**local_seq) + ") is behind the changelog (commit " +
             std::to_string(**last) + "); restoring from the changelog");
  } else if (!*position && extent->high <= extent->low && extent->low == 0) {
    return {};  // a fresh task
  }
  if (full && (*position || *local_seq))
    if (auto r = open_store(true); !r) return r;

  // A changelog that no longer starts at offset 0 is only usable from a snapshot on.
  const bool need_snapshot = full && extent->low > 0;
  const auto started = std::chrono::steady_clock::now();
  changelog::applier applier(*store_, need_snapshot);
  auto r = changelog.read(from, extent->high, patience, [&](const kafka::message& m) -> result<void> {
    if (!m.key()) return {};
    std::optional<std::string_view> value;
    if (m.value()) value = *m.value();
    return applier.apply(m.offset().value, *m.key(), value);
  });
  if (!r) return r;
  if (need_snapshot && !applier.saw_snapshot())
    return fail("task ", std::to_string(partition_), ": the changelog ", o.changelog_topic(), "[",
                std::to_string(partition_), "] starts at offset ", std::to_string(extent->low),
                " and holds no snapshot: the records restoring needs are gone (retention). "
                "Refusing to run on partial state; restore the state directory or re-process "
                "the input from the start with a new application.id");
  restored_.kind = full ? "full" : "from standby";
  restored_.records = extent->high - from;
  restored_.duration = std::chrono::duration_cast<millis>(std::chrono::steady_clock::now() - started);
  env_.log("task " + std::to_string(partition_) + ": restored " + std::to_string(restored_.records) +
           " changelog records (" + restored_.kind + ", offsets " + std::to_string(from) + ".." +
           std::to_string(extent->high) + ") in " + std::to_string(restored_.duration.count()) + " ms" +
           (applier.holds_partial_batch() ? "; an incomplete last batch was ignored" : ""));
  return {};
}

result<void> task::produce_ops(const state::write_batch& batch, kafka::delivery_tracker* tracker) {
  const std::string topic = env_.options->changelog_topic();
  for (const auto& op : batch.ops()) {
    if (op.kind == state::write_batch::op_kind::del_range)
      return fail("task ", std::to_string(partition_),
                  ": a range delete cannot go to a changelog (engine state must delete by key)");
    // A delete goes out as a tombstone: a value view without data is a null value for
    // librdkafka (an empty put keeps its non-null, zero-length data).
    std::string_view value;
    if (op.kind == state::write_batch::op_kind::put) value = op.value;
    if (auto r = env_.producer->produce(topic, kafka::partition_id{partition_}, op.key, value, {}, tracker); !r)
      return r;
  }
  return {};
}

result<void> task::write_snapshot_to_changelog() {
  const std::string topic = env_.options->changelog_topic();
  auto produce = [&](std::string_view k, std::string_view v) {
    return env_.producer->produce(topic, kafka::partition_id{partition_}, k, v, {});
  };
  if (auto r = produce(snapshot_key, std::to_string(commit_seq_)); !r) return r;
  std::optional<std::string> meta;
  std::optional<error> failure;
  auto scan = store_->scan_prefix("", [&](std::string_view k, std::string_view v) {
    if (k == meta_key) {
      meta.emplace(v);
      return true;
    }
    if (auto r = produce(k, v); !r) {
      failure = r.error();
      return false;
    }
    return true;
  });
  if (!scan) return scan;
  if (failure) return std::unexpected(*failure);
  if (auto r = produce(meta_key, meta.value_or(meta_value())); !r) return r;
  if (auto r = env_.producer->flush(millis(60'000)); !r) return r;
  env_.log("task " + std::to_string(partition_) + ": wrote a snapshot of its state to the changelog");
  return {};
}

result<void> task::republish_outbox() {
  std::optional<error> failure;
  std::vector<outgoing> left;
  auto scan = store_->scan_prefix(std::string(1, outbox_prefix), [&](std::string_view k,
                                                                      std::string_view v) {
    outgoing o;
    o.key.assign(k);
    if (!decode_outgoing(v, o.record, o.source_offset)) {
      failure = error{"task " + std::to_string(partition_) + ": corrupt outbox record"};
      return false;
    }
    left.push_back(std::move(o));
    return true;
  });
  if (!scan) return scan;
  if (failure) return std::unexpected(*failure);
  if (left.empty()) return {};
  env_.log("task " + std::to_string(partition_) + ": republishing " +
           std::to_string(left.size()) + " records left in the outbox");
  outbox_.push_back(std::move(left));
  if (env_.options->guarantee == processing_guarantee::exactly_once_v2)
    if (auto r = env_.producer->begin_transaction(); !r) return r;
  if (auto r = produce_outputs(); !r) return r;
  if (env_.options->guarantee == processing_guarantee::exactly_once_v2) {
    if (auto r = env_.producer->commit_transaction(millis(60'000)); !r) return r;
  } else if (auto r = env_.producer->flush(millis(60'000)); !r) {
    return r;
  }
  return mark_published();
}

void task::apply_subscription(const subscription_record& r) {
  auto applied = engine_->apply_subscription(r);
  if (!applied)
    env_.log("task " + std::to_string(partition_) + ": subscription ignored: " + applied.error().message);
  else if (*applied)
    env_.log("task " + std::to_string(partition_) + ": " + **applied);
}

void task::process(std::string_view value, int64_t offset, timestamp wall_clock) {
  // A record from before this task's position (fetched before a rebalance handed the partition
  // back) has been counted already.
  if (next_offset_ >= 0 && offset < next_offset_) return;
  engine_->process(value, wall_clock, fresh_);
  fresh_offsets_.resize(fresh_.size(), offset);
  next_offset_ = offset + 1;
  dirty_ = true;
}

void task::close_idle(timestamp wall_clock) {
  const size_t before = fresh_.size();
  engine_->close_idle(wall_clock, fresh_);
  fresh_offsets_.resize(fresh_.size(), -1);
  if (fresh_.size() != before) dirty_ = true;
}

result<void> task::prepare_commit() {
  batch_.clear();
  engine_->checkpoint(batch_);
  std::vector<outgoing>& out = outbox_.emplace_back();
  out.reserve(fresh_.size());
  for (size_t i = 0; i < fresh_.size(); ++i) {
    outgoing o;
    o.key = outbox_key(outbox_seq_++);
    batch_.put(o.key, encode_outgoing(fresh_[i], fresh_offsets_[i]));
    o.record = std::move(fresh_[i]);
    o.source_offset = fresh_offsets_[i];
    out.push_back(std::move(o));
  }
  fresh_.clear();
  fresh_offsets_.clear();
  ++commit_seq_;
  committed_offset_ = next_offset_;
  batch_.put(meta_key, meta_value());  // last: it marks the batch complete on the changelog
  if (auto r = store_->write(batch_); !r) return r;
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
  if (auto r = produce_ops(unsent_, tracker); !r) return r;
  unsent_.clear();
  return {};
}

result<void> task::produce_outputs(kafka::delivery_tracker* tracker) {
  MF_ASSERT(outputs_produced_ < outbox_.size(), "produce_outputs without a prepared batch");
  const run_options& o = *env_.options;
  for (const outgoing& og : outbox_[outputs_produced_++]) {
    const output_record& r = og.record;
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
        const std::string offset = std::to_string(og.source_offset);
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
  return {};
}

result<void> task::mark_published() {
  MF_ASSERT(outputs_produced_ > 0, "mark_published before produce_outputs");
  std::vector<outgoing> published = std::move(outbox_.front());
  outbox_.pop_front();
  --outputs_produced_;
  if (published.empty()) return {};
  state::write_batch done;
  for (const outgoing& og : published) done.del(og.key);
  ++commit_seq_;
  done.put(meta_key, meta_value());
  if (auto r = store_->write(done); !r) return r;
  for (const auto& op : done.ops()) {
    if (op.kind == state::write_batch::op_kind::del)
      unsent_.del(op.key);
    else
      unsent_.put(op.key, op.value);
  }
  return {};
}

}  // namespace meterflow
