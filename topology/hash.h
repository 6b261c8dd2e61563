// 128-bit identity hashes (XXH3-128): dedup keys, fingerprints and deterministic record ids.
// Stable across runs, machines and versions of meterflow: ids derived from them are persisted
// by downstream ledgers, so the hashing of an identity must never change.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

// Inlined (the same XXH3, compiled here): identities are short, and a call into the shared
// library per hash was ~5 % of the engine's time on dense workloads.
// Its AVX2 kernel (inputs over 240 bytes only): GCC 12 warns inside the AVX-512 one.
#define XXH_INLINE_ALL
#if !defined(XXH_VECTOR) && defined(__AVX2__)
#define XXH_VECTOR 2  // XXH_AVX2
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

// Hasher over length-prefixed fields, so ("ab","c") and ("a","bc") differ. Fields are gathered
// in a small inline buffer and hashed in one XXH3-128 call (the streaming state is ~600 bytes
// to reset; identities are short). Longer inputs spill to the heap; the digest is the same.
class hasher {
 public:
  [[gnu::always_inline]] hasher& field(std::string_view s) {
    uint64_t n = s.size();
    append(&n, sizeof n);
    append(s.data(), s.size());
    return *this;
  }
  [[gnu::always_inline]] hasher& field(int64_t v) {
    append(&v, sizeof v);
    return *this;
  }
  [[gnu::always_inline]] hasher& field(hash128 h) {
    append(&h, sizeof h);
    return *this;
  }
  hash128 digest() const {
    const char* data = spill_.empty() ? inline_ : spill_.data();
    XXH128_hash_t h = XXH3_128bits(data, size_);
    return {h.low64, h.high64};
  }

 private:
  [[gnu::always_inline]] void append(const void* p, size_t n) {
    if (spill_.empty() && size_ + n <= sizeof inline_) {
      std::memcpy(inline_ + size_, p, n);
    } else {
      if (spill_.empty()) spill_.assign(inline_, size_);
      spill_.append(static_cast<const char*>(p), n);
    }
    size_ += n;
  }

  char inline_[240];
  size_t size_ = 0;
  std::string spill_;
};

// 32 lower-case hex digits written at `p`; returns their end.
inline char* write_hex(char* p, hash128 h) {
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    p[15 - i] = digits[(h.hi >> (4 * i)) & 0xf];
    p[31 - i] = digits[(h.lo >> (4 * i)) & 0xf];
  }
  return p + 32;
}

// The same, appended to `out`.
inline void append_hex(std::string& out, hash128 h) {
  char buf[32];
  out.append(buf, write_hex(buf, h));
}

// 32 lower-case hex digits.
inline std::string to_hex(hash128 h) {
  std::string out;
  append_hex(out, h);
  return out;
}

struct hash128_hash {
  size_t operator()(hash128 h) const noexcept { return h.lo ^ (h.hi * 0x9e3779b97f4a7c15ull); }
};

}  // namespace meterflow
