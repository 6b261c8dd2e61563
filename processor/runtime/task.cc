#include "processor/runtime/task.h"

#include <filesystem>
#include <map>

#include "topology/codec.h"

namespace meterflow {

namespace {

// Store keys of the task (the engine owns 'd', 's', 'w', 'm').
const std::string meta_key = "o";        // commit sequence, next input offset, outbox sequence
constexpr char outbox_prefix = 'x';      // 'x' seq -> an outgoing record not yet published
const std::string snapshot_key = "S";    // changelog only: a full snapshot of the store follows

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

struct meta {
  int64_t commit_seq = 0;
  int64_t next_offset = kafka::kafka_offset::invalid().value;
  int64_t outbox_seq = 0;
};

std::optional<meta> decode_meta(std::string_view v) {
  meta m;
  byte_reader r(v);
  if (r.i64(m.commit_seq) && r.i64(m.next_offset) && r.i64(m.outbox_seq) && r.at_end()) return m;
  return std::nullopt;
}

}  // namespace

std::string task::meta_value() const {
  std::string v;
  byte_writer(v).i64(commit_seq_).i64(next_offset_).i64(outbox_seq_);
  return v;
}

task::~task() = default;

result<std::unique_ptr<task>> task::open(const task_env& env, int32_t partition,
                                         std::shared_ptr<const catalog> cat,
                                         const std::vector<subscription_record>& subscriptions) {
  std::unique_ptr<task> t(new task(env, partition));
  const run_options& o = *env.options;
  const std::string dir = (std::filesystem::path(o.state_dir) / o.application_id /
                           ("task-" + std::to_string(partition)))
                              .string();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(dir, ": ", ec.message());

  auto open_store = [&]() -> result<void> {
    state::rocksdb_options ro;
    ro.path = dir;
    auto s = state::rocksdb_store::open(ro);
    if (!s) return std::unexpected(s.error());
    t->store_ = std::move(*s);
    return {};
  };
  if (auto r = open_store(); !r) return std::unexpected(r.error());

  auto local = t->store_->get(meta_key);
  if (!local) return std::unexpected(local.error());
  int64_t local_seq = -1;
  if (*local) {
    auto m = decode_meta(**local);
    if (!m) return fail(dir, ": corrupt task metadata");
    local_seq = m->commit_seq;
  }
  bool changelog_behind = false;
  if (auto r = t->restore_from_changelog(dir, local->has_value(), local_seq, changelog_behind); !r)
    return std::unexpected(r.error());

  auto restored = t->store_->get(meta_key);
  if (!restored) return std::unexpected(restored.error());
  if (*restored) {
    auto m = decode_meta(**restored);
    if (!m) return fail(dir, ": corrupt task metadata");
    t->commit_seq_ = m->commit_seq;
    t->next_offset_ = m->next_offset;
    t->outbox_seq_ = m->outbox_seq;
  }

  t->engine_ = std::make_unique<engine>(o.engine, std::move(cat));
  for (const auto& s : subscriptions) t->apply_subscription(s);
  if (auto r = t->engine_->restore(*t->store_); !r)
    return fail("task ", std::to_string(partition), ": ", r.error().message);
  if (auto r = t->republish_outbox(); !r) return std::unexpected(r.error());
  if (changelog_behind)
    if (auto r = t->write_snapshot_to_changelog(); !r) return std::unexpected(r.error());
  return t;
}

// Decides between local state and the changelog, and restores from the changelog when the local
// state is missing or behind. Sets `changelog_behind` when the local state is ahead of (or not
// on) the changelog: a crash between the local write and the changelog acknowledgement, or a
// changelog that was deleted; the task then writes a snapshot so the changelog is whole again.
result<void> task::restore_from_changelog(const std::string& dir, bool local_present,
                                          int64_t local_seq, bool& changelog_behind) {
  const run_options& o = *env_.options;
  const std::string topic = o.changelog_topic();
  auto reader = make_reader(o, env_.bootstrap, "restore");
  if (!reader) return std::unexpected(reader.error());
  kafka::topic_partition tp{topic, kafka::partition_id{partition_}};
  auto wm = (*reader)->query_watermarks(tp, millis(10'000));
  if (!wm) return fail("changelog ", topic, "[", std::to_string(partition_), "]: ", wm.error().message);
  const int64_t low = wm->low.value, high = wm->high.value;

  // Reads [from, high) and hands each record to `fn`.
  auto read = [&](int64_t from, const std::function<void(const kafka::message&)>& fn) -> result<void> {
    std::vector<kafka::topic_partition_offset> at{{topic, kafka::partition_id{partition_}, kafka::kafka_offset{from}}};
    if (auto r = (*reader)->assign(at); !r) return r;
    int64_t next = from;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (next < high) {
      if (std::chrono::steady_clock::now() > deadline)
        return fail("changelog ", topic, "[", std::to_string(partition_), "]: restore timed out at offset ",
                    std::to_string(next), " of ", std::to_string(high));
      auto m = (*reader)->poll(millis(200));
      if (!m) return std::unexpected(m.error());
      if (!*m || (*m)->is_partition_eof()) continue;
      next = (*m)->offset().value + 1;
      fn(**m);
    }
    return {};
  };

  if (local_present) {
    if (high <= low) {
      changelog_behind = true;
      return {};
    }
    std::optional<int64_t> last_seq;
    auto r = read(high - 1, [&](const kafka::message& m) {
      if (m.key() && *m.key() == meta_key && m.value())
        if (auto mm = decode_meta(*m.value())) last_seq = mm->commit_seq;
    });
    if (!r) return r;
    if (last_seq && *last_seq == local_seq) return {};
    if (!last_seq || *last_seq < local_seq) {
      changelog_behind = true;
      return {};
    }
    // The changelog is ahead: this state directory is stale (the task ran elsewhere since).
    env_.log("task " + std::to_string(partition_) + ": local state (commit " +
             std::to_string(local_seq) + ") is behind the changelog (commit " +
             std::to_string(*last_seq) + "); restoring from the changelog");
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir, ec);
    state::rocksdb_options ro;
    ro.path = dir;
    auto s = state::rocksdb_store::open(ro);
    if (!s) return std::unexpected(s.error());
    store_ = std::move(*s);
  } else if (high <= low && low == 0) {
    return {};  // a fresh task
  }

  // Replay complete batches: operations count once the batch's offset record follows them.
  const auto started = std::chrono::steady_clock::now();
  std::map<std::string, std::optional<std::string>> image;
  std::vector<std::pair<std::string, std::optional<std::string>>> pending;
  bool whole = low == 0;
  int64_t records = 0;
  auto r = read(low, [&](const kafka::message& m) {
    ++records;
    if (!m.key()) return;
    std::string key(*m.key());
    std::optional<std::string> value;
    if (m.value()) value.emplace(*m.value());
    if (key == snapshot_key) {
      image.clear();
      pending.clear();
      whole = true;
      return;
    }
    pending.emplace_back(std::move(key), std::move(value));
    if (pending.back().first == meta_key) {
      for (auto& [k, v] : pending) image[k] = std::move(v);
      pending.clear();
    }
  });
  if (!r) return r;
  if (!whole)
    return fail("task ", std::to_string(partition_), ": the changelog ", topic, "[",
                std::to_string(partition_), "] starts at offset ", std::to_string(low),
                " and holds no snapshot: the records restoring needs are gone (retention). "
                "Refusing to run on partial state; restore the state directory or re-process "
                "the input from the start with a new application.id");
  state::write_batch batch;
  for (const auto& [k, v] : image)
    if (v) batch.put(k, *v);
  if (auto w = store_->write(batch); !w) return w;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  env_.log("task " + std::to_string(partition_) + ": restored " + std::to_string(image.size()) +
           " keys from " + std::to_string(records) + " changelog records in " +
           std::to_string(ms) + " ms" + (pending.empty() ? "" : " (an incomplete last batch was ignored)"));
  return {};
}

result<void> task::produce_ops(const state::write_batch& batch) {
  const std::string topic = env_.options->changelog_topic();
  for (const auto& op : batch.ops()) {
    if (op.kind == state::write_batch::op_kind::del_range)
      return fail("task ", std::to_string(partition_),
                  ": a range delete cannot go to a changelog (engine state must delete by key)");
    // A delete goes out as a tombstone: a value view without data is a null value for
    // librdkafka (an empty put keeps its non-null, zero-length data).
    std::string_view value;
    if (op.kind == state::write_batch::op_kind::put) value = op.value;
    if (auto r = env_.producer->produce(topic, kafka::partition_id{partition_}, op.key, value); !r)
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
  auto scan = store_->scan_prefix(std::string(1, outbox_prefix), [&](std::string_view k,
                                                                      std::string_view v) {
    outgoing o;
    o.key.assign(k);
    if (!decode_outgoing(v, o.record, o.source_offset)) {
      failure = error{"task " + std::to_string(partition_) + ": corrupt outbox record"};
      return false;
    }
    outbox_.push_back(std::move(o));
    return true;
  });
  if (!scan) return scan;
  if (failure) return std::unexpected(*failure);
  if (outbox_.empty()) return {};
  env_.log("task " + std::to_string(partition_) + ": republishing " +
           std::to_string(outbox_.size()) + " records left in the outbox");
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
  if (!dirty_ && fresh_.empty()) return {};
  batch_.clear();
  engine_->checkpoint(batch_);
  for (size_t i = 0; i < fresh_.size(); ++i) {
    outgoing o;
    o.key = outbox_key(outbox_seq_++);
    batch_.put(o.key, encode_outgoing(fresh_[i], fresh_offsets_[i]));
    o.record = std::move(fresh_[i]);
    o.source_offset = fresh_offsets_[i];
    outbox_.push_back(std::move(o));
  }
  fresh_.clear();
  fresh_offsets_.clear();
  ++commit_seq_;
  batch_.put(meta_key, meta_value());  // last: it marks the batch complete on the changelog
  if (auto r = store_->write(batch_); !r) return r;
  dirty_ = false;
  return {};
}

result<void> task::produce_changelog() {
  if (auto r = produce_ops(unsent_); !r) return r;
  unsent_.clear();
  if (auto r = produce_ops(batch_); !r) return r;
  batch_.clear();
  return {};
}

result<void> task::produce_outputs() {
  const run_options& o = *env_.options;
  for (const outgoing& og : outbox_) {
    const output_record& r = og.record;
    std::optional<std::string_view> key;
    if (!r.key.empty()) key = r.key;
    switch (r.kind) {
      case output_kind::charge:
        if (auto p = env_.producer->produce(o.charges_topic, kafka::partition_id::unassigned(), key, r.value); !p) return p;
        break;
      case output_kind::adjustment:
        if (auto p = env_.producer->produce(o.adjustments_topic, kafka::partition_id::unassigned(), key, r.value); !p) return p;
        break;
      case output_kind::alert:
        if (auto p = env_.producer->produce(o.alerts_topic, kafka::partition_id::unassigned(), key, r.value); !p) return p;
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
        if (auto p = env_.producer->produce(o.dlq_topic, kafka::partition_id::unassigned(), key, r.value, headers); !p) return p;
        break;
      }
    }
  }
  return {};
}

result<void> task::mark_published() {
  if (outbox_.empty()) return {};
  state::write_batch done;
  for (const outgoing& og : outbox_) done.del(og.key);
  ++commit_seq_;
  done.put(meta_key, meta_value());
  if (auto r = store_->write(done); !r) return r;
  for (const auto& op : done.ops()) {
    if (op.kind == state::write_batch::op_kind::del)
      unsent_.del(op.key);
    else
      unsent_.put(op.key, op.value);
  }
  outbox_.clear();
  return {};
}

}  // namespace meterflow
