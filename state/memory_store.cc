#include "state/memory_store.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <absl/hash/hash.h>

#include "base/assert.h"

namespace meterflow::state {

namespace {
// An entry's key and value bytes in one buffer.
std::unique_ptr<char[]> concat(std::string_view key, std::string_view value) {
  MF_ASSERT(key.size() <= std::numeric_limits<uint32_t>::max() &&
                value.size() <= std::numeric_limits<uint32_t>::max(),
            "memory_store: key or value over 4 GiB");
  auto bytes = std::make_unique_for_overwrite<char[]>(key.size() + value.size());
  std::memcpy(bytes.get(), key.data(), key.size());
  std::memcpy(bytes.get() + key.size(), value.data(), value.size());
  return bytes;
}
}  // namespace

size_t memory_store::entry_hash::operator()(std::string_view key) const {
  // This abseil build has its own string_view (not std's).
  return absl::Hash<absl::string_view>{}(absl::string_view(key.data(), key.size()));
}

std::unique_ptr<memory_store> memory_store::create() {
  return std::unique_ptr<memory_store>(new memory_store());
}

result<std::optional<std::string>> memory_store::get(std::string_view key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::optional<std::string>();
  return std::optional<std::string>(std::string(it->value()));
}

void memory_store::put(std::string_view key, std::string_view value) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->bytes = concat(key, value);
    it->value_size = static_cast<uint32_t>(value.size());
    return;
  }
  entries_.insert(entry{concat(key, value), static_cast<uint32_t>(key.size()),
                        static_cast<uint32_t>(value.size())});
}

// Nothing here can fail except allocation (which terminates), so applying the ops one by one in
// order is as atomic as RocksDB's WriteBatch: no caller can observe half a batch.
result<void> memory_store::write(const write_batch& batch) {
  for (const auto& o : batch.ops()) {
    switch (o.kind) {
      case write_batch::op_kind::put:
        put(o.key, o.value);
        break;
      case write_batch::op_kind::del:
        if (auto it = entries_.find(std::string_view(o.key)); it != entries_.end())
          entries_.erase(it);
        break;
      case write_batch::op_kind::del_range:
        // [key, value): an empty or inverted range removes nothing, as in rocksdb_store. A pass
        // over the whole table: range deletes are rare (the engine writes none).
        if (o.key < o.value)
          absl::erase_if(entries_, [&](const entry& e) {
            return std::string_view(o.key) <= e.key() && e.key() < std::string_view(o.value);
          });
        break;
    }
  }
  return {};
}

result<void> memory_store::scan_prefix(std::string_view prefix, const scan_fn& fn) {
  std::vector<const entry*> matching;
  for (const entry& e : entries_)
    if (e.key().starts_with(prefix)) matching.push_back(&e);
  std::sort(matching.begin(), matching.end(),
            [](const entry* a, const entry* b) { return a->key() < b->key(); });
  for (const entry* e : matching)
    if (!fn(e->key(), e->value())) break;
  return {};
}

}  // namespace meterflow::state
