#include "processor/runtime/changelog.h"

#include <chrono>
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

result<std::optional<int64_t>> read_position(state::kv_store& store) {
  auto v = store.get(position_key);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<int64_t>{};
  int64_t position = 0;
  byte_reader r(**v);
  if (!r.i64(position) || !r.at_end()) return fail("corrupt changelog position in the task store");
  return std::optional<int64_t>{position};
}

result<void> write_position(state::kv_store& store, int64_t offset) {
  std::string v;
  byte_writer(v).i64(offset);
  state::write_batch b;
  b.put(position_key, v);
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

result<void> applier::apply(int64_t offset, std::string_view key,
                            std::optional<std::string_view> value) {
  ++records_;
  if (skip_until_snapshot_ && key != snapshot_key) return {};
  if (key == snapshot_key) {
    skip_until_snapshot_ = false;
    // A full image follows: everything the store holds now goes, atomically with the image.
    pending_.clear();
    saw_snapshot_ = true;
    return store_.scan_prefix("", [&](std::string_view k, std::string_view) {
      pending_.del(k);
      return true;
    });
  }
  if (key == position_key) return {};  // never written to a changelog; ignore if it were
  if (value)
    pending_.put(key, *value);
  else
    pending_.del(key);
  if (key != meta_key) return {};
  std::string position;
  byte_writer(position).i64(offset + 1);
  pending_.put(position_key, position);
  if (auto r = store_.write(pending_); !r) return r;
  pending_.clear();
  ++batches_;
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

result<std::optional<int64_t>> partition_reader::last_commit_seq(const extent& e, millis patience) {
  std::optional<int64_t> seq;
  auto r = read(e.high - 1, e.high, patience, [&](const kafka::message& m) -> result<void> {
    if (m.key() && *m.key() == meta_key && m.value())
      if (auto meta = decode_meta(*m.value())) seq = meta->commit_seq;
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return seq;
}

}  // namespace meterflow::changelog
