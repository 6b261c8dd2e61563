#include "topology/dedup_table.h"

#include <algorithm>
#include <limits>

#include "base/assert.h"

namespace meterflow {

namespace {
constexpr uint32_t min_capacity = 16;
// How full a shard may get: memory (the table is most of a dense day's) against probe length.
// A miss probes about (1 + 1/(1-load)^2)/2 consecutive 32-byte slots: 23 at 85 %, 6 at 70 %.
// Growing by 1.25 brings a shard back to 68 %.
bool full(uint64_t used, uint64_t capacity) { return used * 20 > capacity * 17; }
}  // namespace

dedup_table::dedup_table() { expiry_of_.push_back(0); }

uint32_t dedup_table::class_of(int64_t expires) {
  if (last_class_ != 0 && expires == last_expires_) return last_class_;
  auto [it, added] = class_by_expiry_.try_emplace(expires, 0);
  if (added) {
    if (!free_classes_.empty()) {
      it->second = free_classes_.back();
      free_classes_.pop_back();
      expiry_of_[it->second] = expires;
    } else {
      MF_ASSERT(expiry_of_.size() < std::numeric_limits<uint32_t>::max(),
                "more than 2^32 distinct dedup expiries alive");
      it->second = static_cast<uint32_t>(expiry_of_.size());
      expiry_of_.push_back(expires);
    }
  }
  last_expires_ = expires;
  last_class_ = it->second;
  return it->second;
}

void dedup_table::place(shard& s, const slot& entry) {
  uint32_t i = home(s, entry.key);
  while (s.slots[i].expiry_class != 0) i = i + 1 == s.capacity ? 0 : i + 1;
  s.slots[i] = entry;
  ++s.used;
}

void dedup_table::rebuild(shard& s, uint32_t capacity, int64_t keep_from) {
  shard old = std::move(s);
  s.slots = std::make_unique<slot[]>(capacity);  // value-initialised: every slot empty
  s.capacity = capacity;
  s.used = 0;
  for (uint32_t i = 0; i < old.capacity; ++i) {
    const slot& e = old.slots[i];
    if (e.expiry_class != 0 && expiry_of_[e.expiry_class] >= keep_from) place(s, e);
  }
}

void dedup_table::reserve(size_t keys) {
  // A shard's share at 75 % full (below full(): a shard at its reserved share does not grow).
  const uint64_t per_shard = keys / shards_.size() + 1;
  const uint64_t capacity = std::max<uint64_t>(min_capacity, per_shard * 4 / 3 + 1);
  MF_ASSERT(capacity <= std::numeric_limits<uint32_t>::max(), "dedup shard over 2^32 slots");
  reserved_capacity_ = std::max(reserved_capacity_, static_cast<uint32_t>(capacity));
  for (shard& s : shards_)
    if (s.capacity < reserved_capacity_)
      rebuild(s, reserved_capacity_, std::numeric_limits<int64_t>::min());
}

dedup_table::verdict dedup_table::insert(hash128 key, hash128 fingerprint, int64_t expires,
                                         int64_t now) {
  shard& s = shard_for(key);
  if (full(s.used + 1, s.capacity)) {
    uint64_t grown = std::max<uint64_t>(min_capacity, uint64_t{s.capacity} * 5 / 4);
    MF_ASSERT(grown <= std::numeric_limits<uint32_t>::max(), "dedup shard over 2^32 slots");
    rebuild(s, static_cast<uint32_t>(grown), std::numeric_limits<int64_t>::min());
  }
  const uint64_t fingerprint_hi = fingerprint.hi;
  const auto fingerprint_mid = static_cast<uint32_t>(fingerprint.lo >> 32);
  for (uint32_t i = home(s, key);; i = i + 1 == s.capacity ? 0 : i + 1) {
    slot& e = s.slots[i];
    if (e.expiry_class == 0) {
      e = slot{key, fingerprint_hi, fingerprint_mid, class_of(expires)};
      ++s.used;
      ++size_;
      return verdict::inserted;
    }
    if (e.key != key) continue;
    if (expiry_of_[e.expiry_class] < now) {  // expired, not swept yet: gone
      e = slot{key, fingerprint_hi, fingerprint_mid, class_of(expires)};
      return verdict::inserted;
    }
    return e.fingerprint_hi == fingerprint_hi && e.fingerprint_mid == fingerprint_mid
               ? verdict::duplicate
               : verdict::conflict;
  }
}

void dedup_table::prefetch(hash128 key) const {
  const shard& s = shard_for(key);
  if (s.capacity != 0) __builtin_prefetch(&s.slots[home(s, key)]);
}

void dedup_table::sweep(int64_t now) {
  size_ = 0;
  for (shard& s : shards_) {
    if (s.capacity == 0) continue;
    uint32_t live = 0;
    for (uint32_t i = 0; i < s.capacity; ++i)
      live += s.slots[i].expiry_class != 0 && expiry_of_[s.slots[i].expiry_class] >= now;
    // Shrinks a shard that lost most of its keys back to 67 % full (not below the reserved
    // size); never grows it.
    uint32_t capacity = std::min(
        s.capacity, std::max({min_capacity, reserved_capacity_, live / 2 * 3 + 1}));
    rebuild(s, capacity, now);
    size_ += s.used;
  }
  // No entry refers to an expiry before `now` any more: its class number can be reused.
  for (auto it = class_by_expiry_.begin(); it != class_by_expiry_.end();) {
    if (it->first < now) {
      free_classes_.push_back(it->second);
      class_by_expiry_.erase(it++);
    } else {
      ++it;
    }
  }
  last_class_ = 0;
}

}  // namespace meterflow
