// 128-bit identity hashes (XXH3-128): dedup keys, fingerprints and deterministic record ids.
// Stable across runs, machines and versions of meterflow: ids derived from them are persisted
// by downstream ledgers, so the hashing of an identity must never change.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY  // exposes XXH3_state_t, so the hasher lives on the stack
#endif
#include <xxhash.h>

namespace meterflow {

struct hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend constexpr bool operator==(hash128, hash128) = default;
  friend constexpr auto operator<=>(hash128, hash128) = default;
  hash128 operator+(hash128 o) const {  // commutative combination (order-independent sets)
    hash128 r{lo + o.lo, hi + o.hi};
    if (r.lo < lo) ++r.hi;
    return r;
  }
};

// Incremental hasher over length-prefixed fields, so ("ab","c") and ("a","bc") differ.
class hasher {
 public:
  hasher() { XXH3_128bits_reset(&state_); }
  hasher& field(std::string_view s) {
    uint64_t n = s.size();
    XXH3_128bits_update(&state_, &n, sizeof n);
    XXH3_128bits_update(&state_, s.data(), s.size());
    return *this;
  }
  hasher& field(int64_t v) {
    XXH3_128bits_update(&state_, &v, sizeof v);
    return *this;
  }
  hasher& field(hash128 h) {
    XXH3_128bits_update(&state_, &h, sizeof h);
    return *this;
  }
  hash128 digest() const {
    XXH128_hash_t h = XXH3_128bits_digest(&state_);
    return {h.low64, h.high64};
  }

 private:
  XXH3_state_t state_;
};

// 32 lower-case hex digits.
inline std::string to_hex(hash128 h) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = digits[(h.hi >> (4 * i)) & 0xf];
    out[31 - i] = digits[(h.lo >> (4 * i)) & 0xf];
  }
  return out;
}

struct hash128_hash {
  size_t operator()(hash128 h) const noexcept { return h.lo ^ (h.hi * 0x9e3779b97f4a7c15ull); }
};

}  // namespace meterflow
