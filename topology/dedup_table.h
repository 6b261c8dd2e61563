// The engine's dedup keys in memory: per accepted event, its key (the 128-bit hash of its id and
// source), its fingerprint (type, time and data) and when the key may be forgotten.
//
// On a dense day every key stays until its billing period has settled, so this table is most of
// the engine's memory (tens of millions of keys). It is built for that:
// - 32-byte slots (two per cache line) in open addressing with linear probing: the key, the
//   fingerprint's upper 96 bits, and the expiry as a 32-bit class number (keys share a handful
//   of expiries, one per billing period end, kept once in a class table). A conflict whose
//   fingerprint differs only in the lower 32 bits reads as a duplicate: 2^-96 odds per re-used
//   key. The store keeps the whole fingerprint.
// - 256 shards by the key's top byte, each grown by 1.25x when 85 % full: a growth copies one
//   shard, never the whole table at once (a whole-table rehash holds the old and the new copy
//   at the same time), and the table stays 68-85 % full.
//
// Thread-safety: none (one engine, one thread).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "topology/hash.h"

namespace meterflow {

class dedup_table {
 public:
  enum class verdict {
    inserted,   // a new key (or one whose entry had expired): now stored
    duplicate,  // stored before with the same fingerprint: drop the event
    conflict,   // stored before with another fingerprint: dead-letter the event
  };

  dedup_table();

  // Looks `key` up and stores it when absent. An entry whose expiry is before `now` counts as
  // absent (replaced), as if it had been removed at its expiry.
  [[nodiscard]] verdict insert(hash128 key, hash128 fingerprint, int64_t expires, int64_t now);
  // Sizes the table for `keys` keys in all (like std::unordered_map::reserve): up to that many,
  // no shard grows. Growing costs a shard's copy and, before that, fresh memory zeroed and
  // faulted in; a table grown from empty to N keys has allocated ~5 N slots on the way. sweep()
  // keeps at least this size. Only ever enlarges.
  void reserve(size_t keys);
  // Starts loading the cache line `key` probes first (a miss in a large table).
  void prefetch(hash128 key) const;
  // Removes every entry whose expiry is before `now`: one pass over the table.
  void sweep(int64_t now);
  size_t size() const { return size_; }

 private:
  struct slot {
    hash128 key;
    uint64_t fingerprint_hi = 0;
    uint32_t fingerprint_mid = 0;  // bits 32..63 of the fingerprint
    uint32_t expiry_class = 0;     // 0: an empty slot
  };
  static_assert(sizeof(slot) == 32);
  struct shard {
    std::unique_ptr<slot[]> slots;
    uint32_t capacity = 0;
    uint32_t used = 0;
  };
  static constexpr int shard_bits = 8;

  // Shards by the key's top bits, slots by its low word: independent bits of a uniform hash.
  shard& shard_for(hash128 key) { return shards_[key.hi >> (64 - shard_bits)]; }
  const shard& shard_for(hash128 key) const { return shards_[key.hi >> (64 - shard_bits)]; }
  static uint32_t home(const shard& s, hash128 key) {  // uniform in [0, capacity)
    return static_cast<uint32_t>((static_cast<unsigned __int128>(key.lo) * s.capacity) >> 64);
  }
  static void place(shard& s, const slot& entry);  // its key is not in s, and s has room
  // Rebuilds `s` with `capacity` slots, keeping the entries that expire at `keep_from` or later.
  void rebuild(shard& s, uint32_t capacity, int64_t keep_from);
  uint32_t class_of(int64_t expires);

  std::array<shard, 1 << shard_bits> shards_;
  size_t size_ = 0;
  uint32_t reserved_capacity_ = 0;  // per shard, set by reserve(): sweep() shrinks no lower
  std::vector<int64_t> expiry_of_;  // by class; [0] unused
  absl::flat_hash_map<int64_t, uint32_t> class_by_expiry_;
  std::vector<uint32_t> free_classes_;  // released by sweep()
  int64_t last_expires_ = 0;            // class_of()'s cache: consecutive events share one
  uint32_t last_class_ = 0;
};

}  // namespace meterflow
