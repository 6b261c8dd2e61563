// Binary encoding of engine state for the key/value store: fixed-width little-endian integers,
// length-prefixed strings; big-endian, sign-flipped integers in keys so they sort by value.
// A value that does not decode is reported as corrupt, never read as zero.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "topology/decimal.h"

namespace meterflow {

// Values are the host's bytes (i64, dec) and keys byte-swapped: both assume a little-endian host.
static_assert(std::endian::native == std::endian::little);

class byte_writer {
 public:
  explicit byte_writer(std::string& out) : out_(out) {}
  byte_writer& u8(uint8_t v) { out_ += static_cast<char>(v); return *this; }
  byte_writer& i64(int64_t v) { return raw(&v, sizeof v); }
  byte_writer& dec(decimal d) { decimal::rep r = d.raw(); return raw(&r, sizeof r); }
  byte_writer& str(std::string_view s) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    put(sizeof n + s.size(), [&](char* p) {
      std::memcpy(p, &n, sizeof n);
      std::memcpy(p + sizeof n, s.data(), s.size());
    });
    return *this;
  }
  // Order-preserving forms for keys.
  // Big-endian bytes built in a register and appended at once (keys are built per checkpoint
  // for every dirty segment and window).
  byte_writer& key_i64(int64_t v) {
    const uint64_t be = __builtin_bswap64(static_cast<uint64_t>(v) ^ (uint64_t{1} << 63));
    return raw(&be, sizeof be);
  }
  byte_writer& key_str(std::string_view s) {
    const uint32_t be = __builtin_bswap32(static_cast<uint32_t>(s.size()));
    put(sizeof be + s.size(), [&](char* p) {
      std::memcpy(p, &be, sizeof be);
      std::memcpy(p + sizeof be, s.data(), s.size());
    });
    return *this;
  }
  byte_writer& raw(const void* p, size_t n) {
    put(n, [&](char* dest) { std::memcpy(dest, p, n); });
    return *this;
  }

 private:
  // Appends `n` bytes written by `write(char* p)`. Encoders append many 8- and 16-byte values:
  // inlined here with a constant size, each is a capacity check and a move, where
  // std::string::append is a call that then calls memcpy.
  template <class Write>
  void put(size_t n, Write write) {
    const size_t old = out_.size();
    // The lambda returns the new length itself: libstdc++ 12 passes it the grown capacity, not
    // the size asked for, when the string reallocates.
    out_.resize_and_overwrite(old + n, [&](char* data, size_t) {
      write(data + old);
      return old + n;
    });
  }

  std::string& out_;
};

// Reads what byte_writer wrote. Every read returns false once the input is exhausted or
// malformed; check ok() (or the last read) before trusting the values.
class byte_reader {
 public:
  explicit byte_reader(std::string_view in) : in_(in) {}
  bool u8(uint8_t& v) { return raw(&v, sizeof v); }
  bool i64(int64_t& v) { return raw(&v, sizeof v); }
  bool dec(decimal& d) {
    decimal::rep r;
    if (!raw(&r, sizeof r)) return false;
    d = decimal::from_raw(r);
    return true;
  }
  bool str(std::string& s) {
    std::string_view v;
    if (!str(v)) return false;
    s.assign(v);
    return true;
  }
  // A view into the input: valid as long as the input is.
  bool str(std::string_view& s) {
    uint32_t n;
    if (!raw(&n, sizeof n) || n > in_.size()) return ok_ = false;
    s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool key_i64(int64_t& v) {
    if (in_.size() < 8) return ok_ = false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(8);
    v = static_cast<int64_t>(u ^ (uint64_t{1} << 63));
    return true;
  }
  bool key_str(std::string& s) {
    if (in_.size() < 4) return ok_ = false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(4);
    if (n > in_.size()) return ok_ = false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool raw(void* p, size_t n) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool skip(size_t n) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    in_.remove_prefix(n);
    return true;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && in_.empty(); }
  size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace meterflow
