#include "processor/runtime/changelog.h"

#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "processor/kafka/retry.h"
#include "topology/codec.h"

namespace meterflow::changelog {

std::string encode_meta(const task_meta& m) {
  std::string v;
  byte_writer(v).i64(m.commit_seq).i64(m.next_offset).i64(m.outbox_seq);
  return v;
}

std::optional<task_meta> decode_meta(std::string_view v) {
  task_meta m;
  byte_reader r(v);
  if (r.i64(m.commit_seq) && r.i64(m.next_offset) && r.i64(m.outbox_seq) && r.at_end()) return m;
  return std::nullopt;
}

writer_id new_writer_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<uint64_t>(std::chrono::steady_clock::now()
                                                                    .time_since_epoch()
                                                                    .count())};
  writer_id w = 0;
  while (w == 0) w = rng();
  return w;
}

std::string encode_writer(writer_id w) {
  std::string v;
  byte_writer(v).i64(static_cast<int64_t>(w));
  return v;
}

namespace {
std::optional<writer_id> decode_writer(std::string_view v) {
  int64_t w = 0;
  byte_reader r(v);
  if (!r.i64(w) || !r.at_end()) return std::nullopt;
  return static_cast<writer_id>(w);
}
}  // namespace

writer_id writer_of(const kafka::message& m) {
  auto h = m.header(writer_header);
  if (!h || !*h) return 0;
  return decode_writer(**h).value_or(0);
}

result<std::optional<position>> read_position(state::kv_store& store) {
  auto v = store.get(position_key);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<position>{};
  position at;
  int64_t writer = 0;
  byte_reader r(**v);
  if (!r.i64(at.offset) || !r.i64(writer) || !r.i64(at.commit_seq) || !r.at_end())
    return std::optional<position>{};  // an older format: as if there were none
  at.writer = static_cast<writer_id>(writer);
  return std::optional<position>{at};
}

namespace {
std::string encode_position(const position& at) {
  std::string v;
  byte_writer(v).i64(at.offset).i64(static_cast<int64_t>(at.writer)).i64(at.commit_seq);
  return v;
}
}  // namespace

result<void> write_position(state::kv_store& store, const position& at) {
  state::write_batch b;
  b.put(position_key, encode_position(at));
  return store.write(b);
}

result<std::optional<int64_t>> read_commit_seq(state::kv_store& store) {
  auto v = store.get(meta_key);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<int64_t>{};
  auto m = decode_meta(**v);
  if (!m) return fail("corrupt task metadata in the task store");
  return std::optional<int64_t>{m->commit_seq};
}

result<void> applier::apply(const kafka::message& m) {
  if (!m.key()) return {};
  std::optional<std::string_view> value;
  if (m.value()) value = *m.value();
  return apply(m.offset().value, writer_of(m), *m.key(), value);
}

result<void> applier::apply(int64_t offset, writer_id writer, std::string_view key,
                            std::optional<std::string_view> value) {
  ++records_;
  if (key == claim_key) {
    // A new owner: whatever the previous one left incomplete never counts.
    writer_ = writer;
    pending_.clear();
    auto seq = read_commit_seq(store_);
    if (!seq) return std::unexpected(seq.error());
    return write_position(store_, {offset + 1, writer_, seq->value_or(0)});
  }
  if (skip_until_snapshot_) {
    if (key != snapshot_key) return {};
    writer_ = writer;  // its claim may be gone with the records retention deleted
  }
  if (writer != writer_) return {};  // a fenced writer's record
  if (key == snapshot_key) {
    skip_until_snapshot_ = false;
    // A full image follows: everything the store holds now goes, atomically with the image.
    pending_.clear();
    saw_snapshot_ = true;
    return store_.scan_prefix("", [&](std::string_view k, std::string_view) {
      if (k != position_key) pending_.del(k);
      return true;
    });
  }
  if (key == position_key) return {};  // never written to a changelog; ignore if it were
  if (value)
    pending_.put(key, *value);
  else
    pending_.del(key);
  if (key != meta_key) return {};
  auto meta = value ? decode_meta(*value) : std::nullopt;
  if (!meta) return fail("corrupt task metadata in the changelog at offset ", std::to_string(offset));
  return complete(offset, meta->commit_seq);
}

result<void> applier::complete(int64_t offset, int64_t commit_seq) {
  pending_.put(position_key, encode_position({offset + 1, writer_, commit_seq}));
  if (auto r = store_.write(pending_); !r) return r;
  pending_.clear();
  ++batches_;
  if (watch_ && watch_->first == writer_ && watch_->second == commit_seq) watched_applied_ = true;
  return {};
}

namespace {
using steady = std::chrono::steady_clock;
}  // namespace

result<extent> partition_reader::watermarks(millis patience) {
  auto wm = kafka::with_retries(patience, [&] {
    return consumer_.query_watermarks({topic_, kafka::partition_id{partition_}}, millis(10'000));
  });
  if (!wm) return fail("changelog ", topic_, "[", std::to_string(partition_), "]: ", wm.error().message);
  return extent{wm->low.value, wm->high.value};
}

result<void> partition_reader::read(int64_t from, int64_t to, millis patience,
                                    const std::function<result<void>(const kafka::message&)>& fn) {
  if (from >= to) return {};
  const kafka::topic_partition_offset at[] = {{topic_, kafka::partition_id{partition_}, kafka::kafka_offset{from}}};
  if (auto r = consumer_.assign(at); !r) return r;
  int64_t next = from;
  const auto deadline = steady::now() + patience;
  while (next < to) {
    if (steady::now() > deadline)
      return fail("changelog ", topic_, "[", std::to_string(partition_), "]: reading timed out at offset ",
                  std::to_string(next), " of ", std::to_string(to));
    auto m = consumer_.poll(millis(200));
    if (!m) return std::unexpected(m.error());
    if (!*m || (*m)->is_partition_eof()) continue;
    next = (*m)->offset().value + 1;
    if ((*m)->offset().value >= to) break;
    if (auto r = fn(**m); !r) return r;
  }
  return consumer_.unassign();
}

}  // namespace meterflow::changelog
