#include "state/memory_store.h"

namespace meterflow::state {

std::unique_ptr<memory_store> memory_store::create() {
  return std::unique_ptr<memory_store>(new memory_store());
}

result<std::optional<std::string>> memory_store::get(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

// Nothing here can fail except allocation (which terminates), so applying the ops one by one in
// order is as atomic as RocksDB's WriteBatch: no caller can observe half a batch.
result<void> memory_store::write(const write_batch& batch) {
  for (const auto& o : batch.ops()) {
    switch (o.kind) {
      case write_batch::op_kind::put:
        map_.insert_or_assign(o.key, o.value);
        break;
      case write_batch::op_kind::del:
        if (auto it = map_.find(o.key); it != map_.end()) map_.erase(it);
        break;
      case write_batch::op_kind::del_range:
        // [key, value): an empty or inverted range removes nothing, as in rocksdb_store.
        if (o.key < o.value) map_.erase(map_.lower_bound(o.key), map_.lower_bound(o.value));
        break;
    }
  }
  return {};
}

result<void> memory_store::scan_prefix(std::string_view prefix, const scan_fn& fn) {
  for (auto it = map_.lower_bound(prefix); it != map_.end() && it->first.starts_with(prefix);
       ++it) {
    if (!fn(it->first, it->second)) break;
  }
  return {};
}

}  // namespace meterflow::state
