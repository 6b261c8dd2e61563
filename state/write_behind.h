// A kv_store that holds writes in memory, each key's latest operation only, and applies them to
// another store later, in one atomic batch.
//
// For stores whose writes are also kept somewhere that can replay them: a task's store, whose
// every commit is on its changelog too, and which a task reopens by replaying the changelog from
// the store's own position (processor/runtime/changelog.h). Such a store is written at every
// commit, several times a second, and most of what a commit writes is overwritten by the next
// ones (a segment's totals, an open window, outbox chunks put and then deleted). Holding the
// writes merges them: the store is written once per `max_age`, with each key once.
//
// The store behind always holds the state after some whole batch written here, as if the
// batches after it had not been written yet, which is what a crash leaves of a store without
// its write-ahead log anyway. Held writes are applied:
//  - when the oldest of them is older than `max_age`, or they exceed `max_bytes`, at a write;
//  - before any read (get, scan_prefix), so reads see every write;
//  - before a batch with a range delete, which then goes to the store as it is;
//  - at flush(), sync(), and in the destructor (where a failure can only be logged).
// After a failed flush the held writes are lost and every later call fails.
//
// Thread-safety: as kv_store, one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <absl/container/flat_hash_map.h>

#include "state/kv_store.h"

namespace meterflow::state {

class write_behind final : public kv_store {
 public:
  struct limits {
    std::chrono::milliseconds max_age{10'000};  // Default: 10 s.
    size_t max_bytes = 8ull << 20;             // Keys and values held. Default: 8 MiB.
  };

  // `inner` must outlive this object.
  write_behind(kv_store& inner, limits l);
  ~write_behind() override;
  write_behind(const write_behind&) = delete;
  write_behind& operator=(const write_behind&) = delete;

  result<std::optional<std::string>> get(std::string_view key) override;
  result<void> write(const write_batch& batch) override;
  result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) override;
  result<void> sync() override;

  // Applies the held writes to the store behind, as one batch.
  [[nodiscard]] result<void> flush();
  // Bytes of keys and values held (not yet in the store behind).
  size_t held_bytes() const { return held_bytes_; }

 private:
  struct held_op {
    bool del = false;
    std::string value;
  };
  kv_store& inner_;
  const limits limits_;
  absl::flat_hash_map<std::string, held_op> held_;
  size_t held_bytes_ = 0;
  std::chrono::steady_clock::time_point oldest_;  // of the held writes, when any
  bool failed_ = false;  // a flush failed: every call fails from then on
};

}  // namespace meterflow::state
