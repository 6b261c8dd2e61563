#include "state/write_behind.h"

#include <cstdio>

namespace meterflow::state {

write_behind::write_behind(kv_store& inner, limits l) : inner_(inner), limits_(l) {}

write_behind::~write_behind() {
  if (auto r = flush(); !r)
    std::fprintf(stderr, "state: writing held writes to the store failed: %s\n", r.error().message.c_str());
}

result<std::optional<std::string>> write_behind::get(std::string_view key) {
  if (auto r = flush(); !r) return std::unexpected(r.error());
  return inner_.get(key);
}

result<void> write_behind::scan_prefix(std::string_view prefix, const scan_fn& fn) {
  if (auto r = flush(); !r) return r;
  return inner_.scan_prefix(prefix, fn);
}

result<void> write_behind::sync() {
  if (auto r = flush(); !r) return r;
  return inner_.sync();
}

result<void> write_behind::write(const write_batch& batch) {
  if (failed_) return flush();
  for (const auto& op : batch.ops()) {
    if (op.kind == write_batch::op_kind::del_range) {
      // A range cannot be merged key by key: what is held goes first, then the batch as it is.
      if (auto r = flush(); !r) return r;
      return inner_.write(batch);
    }
  }
  if (batch.empty()) return {};
  if (held_.empty()) oldest_ = std::chrono::steady_clock::now();
  for (const auto& op : batch.ops()) {
    const bool del = op.kind == write_batch::op_kind::del;
    auto [it, fresh] = held_.try_emplace(op.key);
    if (fresh)
      held_bytes_ += op.key.size();
    else
      held_bytes_ -= it->second.value.size();
    it->second.del = del;
    if (del)
      it->second.value.clear();
    else
      it->second.value.assign(op.value);
    held_bytes_ += it->second.value.size();
  }
  if (held_bytes_ > limits_.max_bytes || std::chrono::steady_clock::now() - oldest_ >= limits_.max_age)
    return flush();
  return {};
}

result<void> write_behind::flush() {
  if (failed_) return fail("state: an earlier write of held writes to the store failed");
  if (held_.empty()) return {};
  write_batch merged;
  merged.reserve_more(held_.size());
  for (auto& [key, op] : held_) {
    if (op.del)
      merged.del(std::string(key));
    else
      merged.put(std::string(key), std::move(op.value));
  }
  // The values were moved into the batch: if it fails, what was held is gone, and so is any
  // promise about the store behind.
  failed_ = true;
  if (auto r = inner_.write(merged); !r) return r;
  failed_ = false;
  held_.clear();
  held_bytes_ = 0;
  return {};
}

}  // namespace meterflow::state
