// kv_store held in an in-process hash table. For tests and `meterflow rate --state memory`;
// nothing survives the process.
//
// Writes are the hot path (every commit of an offline run); scans happen only at restore and in
// tests. So keys are hashed, not ordered: a put costs one hash and one key comparison instead of
// a walk down a tree of long, shared-prefix keys, and scan_prefix sorts the matching keys when it
// is called. An offline run keeps hundreds of thousands of small entries (delta chunks, windows)
// next to its dedup blocks, so each entry is one allocation, key then value, behind a 16-byte
// slot (two std::strings would take a 64-byte slot and two allocations).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <absl/container/flat_hash_set.h>

#include "state/kv_store.h"

namespace meterflow::state {

class memory_store final : public kv_store {
 public:
  static std::unique_ptr<memory_store> create();

  result<std::optional<std::string>> get(std::string_view key) override;
  result<void> write(const write_batch& batch) override;
  result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) override;
  result<void> sync() override { return {}; }

  size_t size() const { return entries_.size(); }

 private:
  struct entry {
    // Key bytes then value bytes. Mutable: an overwrite swaps in a buffer with the same key,
    // which leaves the entry's hash and equality unchanged.
    mutable std::unique_ptr<char[]> bytes;
    uint32_t key_size = 0;
    mutable uint32_t value_size = 0;
    std::string_view key() const { return {bytes.get(), key_size}; }
    std::string_view value() const { return {bytes.get() + key_size, value_size}; }
  };
  struct entry_hash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const;
    size_t operator()(const entry& e) const { return (*this)(e.key()); }
  };
  struct entry_eq {
    using is_transparent = void;
    static std::string_view key_of(std::string_view key) { return key; }
    static std::string_view key_of(const entry& e) { return e.key(); }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const { return key_of(a) == key_of(b); }
  };

  void put(std::string_view key, std::string_view value);

  absl::flat_hash_set<entry, entry_hash, entry_eq> entries_;
};

}  // namespace meterflow::state
