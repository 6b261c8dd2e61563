#include "topology/decimal.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "base/assert.h"

namespace meterflow {

namespace {

using u128 = unsigned __int128;
using wide = exact::rep;

constexpr decimal::rep max_raw = std::numeric_limits<decimal::rep>::max();
constexpr decimal::rep min_raw = std::numeric_limits<decimal::rep>::min();

// ---------------------------------------------------------------------------------------------
// Rounding core, shared by decimal, exact and round_ratio so that every path decides ties the
// same way. It works on magnitudes: rounding is symmetric around zero, the caller re-applies
// the sign.

bool is_odd(const u128& q) { return (q & 1) != 0; }
bool is_odd(const wide& q) { return bit_test(q, 0); }

// Division of 128-bit values that fit in 64 bits (most quantities and amounts) in one native
// instruction rather than the __udivti3 library routine.
template <class Unsigned>
void divide(const Unsigned& n, const Unsigned& d, Unsigned& q, Unsigned& r) {
  if constexpr (std::is_same_v<Unsigned, u128>) {
    constexpr u128 max64 = std::numeric_limits<uint64_t>::max();
    if (n <= max64 && d <= max64) {
      q = uint64_t(n) / uint64_t(d);
      r = uint64_t(n) % uint64_t(d);
      return;
    }
  }
  q = n / d;
  r = n % d;
}

// Rounds magnitude / divisor (divisor > 0) to an integer. The tie is decided on the exact
// remainder: comparing r with divisor - r avoids computing 2r, which could overflow.
template <class Unsigned>
Unsigned round_quotient(const Unsigned& magnitude, const Unsigned& divisor, rounding_mode mode) {
  Unsigned q, r;
  divide(magnitude, divisor, q, r);
  const Unsigned rest = divisor - r;
  const bool round_up = r > rest || (r == rest && (mode == rounding_mode::half_up || is_odd(q)));
  if (round_up) ++q;
  return q;
}

// |v| without the overflow of -min.
u128 magnitude(decimal::rep v) { return v < 0 ? u128(0) - u128(v) : u128(v); }

u128 pow10_u(int n) { return u128(decimal::pow10(n)); }

// 10^n in 256 bits, from decimal's table (n <= 24 here: exact values carry 24 fractional digits).
wide pow10_wide(int n) { return wide(decimal::pow10(n)); }

// Re-applies a sign to a magnitude; nullopt when the result leaves the 128-bit range.
std::optional<decimal::rep> signed_from(u128 mag, bool negative) {
  if (negative) {
    if (mag > magnitude(min_raw)) return std::nullopt;
    return decimal::rep(u128(0) - mag);
  }
  if (mag > u128(max_raw)) return std::nullopt;
  return decimal::rep(mag);
}

std::optional<decimal::rep> signed_from(const wide& mag, bool negative) {
  if (mag > wide(magnitude(min_raw))) return std::nullopt;
  return signed_from(static_cast<u128>(mag), negative);
}

// Rounding a 256-bit value with `scale` fractional digits to `digits` of them, back at
// decimal's scale. Shared by exact::round and round_ratio.
result<decimal> round_wide(const wide& value, const wide& divisor_at_scale, int digits,
                           rounding_mode mode) {
  const bool negative = value < 0;
  const wide q = round_quotient<wide>(abs(value), divisor_at_scale, mode);
  const auto raw = signed_from(q * pow10_wide(decimal::scale - digits), negative);
  if (!raw) return fail("amount exceeds the decimal range (|value| < 1.7e26)");
  return decimal::from_raw(*raw);
}

void check_digits(int digits) {
  MF_ASSERT(digits >= 0 && digits <= decimal::scale, "rounding digits must be in 0..12");
}

// ---------------------------------------------------------------------------------------------
// Text output.

// Writes the digits of v ending at `end`; returns where they begin. Values that fit in 64 bits
// (nearly all amounts and quantities) avoid the slow 128-bit division per digit.
char* format_uint(char* end, u128 v) {
  char* p = end;
  while (v > std::numeric_limits<uint64_t>::max()) {
    *--p = char('0' + int(v % 10));
    v /= 10;
  }
  uint64_t small = static_cast<uint64_t>(v);
  do {
    *--p = char('0' + int(small % 10));
    small /= 10;
  } while (small != 0);
  return p;
}

// Writes the digits of v at `p`; returns their end.
char* write_uint(char* p, u128 v) {
  char buf[40];  // 2^128 has 39 digits
  char* end = buf + sizeof(buf);
  const char* begin = format_uint(end, v);
  return std::copy(begin, static_cast<const char*>(end), p);
}

// Writes exactly `width` digits of v at `p`, zero-padded on the left; returns their end.
char* write_padded(char* p, u128 v, int width) {
  char buf[40];
  char* end = buf + sizeof(buf);
  const char* begin = format_uint(end, v);
  const std::size_t n = static_cast<std::size_t>(end - begin);
  p = std::fill_n(p, std::size_t(width) - std::min(n, std::size_t(width)), '0');
  return std::copy(begin, static_cast<const char*>(end), p);
}

// ---------------------------------------------------------------------------------------------
// Parsing. First the syntax (scan), then the value: the exponent only moves the decimal point,
// so limits are checked on the digit string without ever materialising 10^exponent.

// The pieces of a syntactically valid number.
struct scanned_number {
  bool negative = false;
  std::string_view int_digits;
  std::string_view frac_digits;
  int64_t exponent = 0;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view take_digits(std::string_view text, std::size_t& pos) {
  const std::size_t start = pos;
  while (pos < text.size() && is_digit(text[pos])) ++pos;
  return text.substr(start, pos - start);
}

// Exponent magnitudes are saturated here: a text shorter than this bound cannot bring a
// saturated exponent back into range, so saturating never turns a rejection into an acceptance
// or vice versa, and nothing downstream loops over the exponent.
constexpr int64_t exponent_cap = int64_t(1) << 56;

int64_t saturating_number(std::string_view digits) {
  int64_t v = 0;
  for (char c : digits) v = std::min(exponent_cap, v * 10 + (c - '0'));
  return v;
}

// JSON number grammar: -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?, with leading zeros allowed.
std::optional<scanned_number> scan(std::string_view text) {
  scanned_number n;
  std::size_t pos = 0;
  if (pos < text.size() && text[pos] == '-') {
    n.negative = true;
    ++pos;
  }
  n.int_digits = take_digits(text, pos);
  if (n.int_digits.empty()) return std::nullopt;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    n.frac_digits = take_digits(text, pos);
    if (n.frac_digits.empty()) return std::nullopt;
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool negative_exponent = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      negative_exponent = text[pos] == '-';
      ++pos;
    }
    const std::string_view exp_digits = take_digits(text, pos);
    if (exp_digits.empty()) return std::nullopt;
    n.exponent = saturating_number(exp_digits);
    if (negative_exponent) n.exponent = -n.exponent;
  }
  if (pos != text.size()) return std::nullopt;
  return n;
}

// The significant digits of a number: digits[first..last] (all non-zero at both ends) with the
// decimal point after `point` digits of the concatenated int+frac string (point may lie
// outside the string: "1e5" has point 6, "1e-5" has point -4).
struct significant_digits {
  std::string_view int_digits;
  std::string_view frac_digits;
  int64_t first = 0;
  int64_t last = -1;  // last < first: the value is zero
  int64_t point = 0;

  char at(int64_t i) const {
    const auto idx = std::size_t(i);
    return idx < int_digits.size() ? int_digits[idx] : frac_digits[idx - int_digits.size()];
  }
  bool is_zero() const { return last < first; }
  // Integer digits without leading zeros; fractional digits without trailing zeros.
  int64_t integer_count() const { return std::max<int64_t>(0, point - first); }
  int64_t fraction_count() const { return std::max<int64_t>(0, last + 1 - point); }
};

significant_digits normalise(const scanned_number& n) {
  significant_digits s{n.int_digits, n.frac_digits};
  const auto size = int64_t(n.int_digits.size() + n.frac_digits.size());
  s.point = int64_t(n.int_digits.size()) + n.exponent;
  while (s.first < size && s.at(s.first) == '0') ++s.first;
  s.last = size - 1;
  while (s.last >= s.first && s.at(s.last) == '0') --s.last;
  return s;
}

// The magnitude at decimal's scale; nullopt on 128-bit overflow. The caller has checked that
// there are at most `decimal::scale` fractional digits, so the final shift is not negative.
std::optional<u128> to_raw_magnitude(const significant_digits& s) {
  u128 v = 0;
  for (int64_t i = s.first; i <= s.last; ++i) {
    if (__builtin_mul_overflow(v, u128(10), &v)) return std::nullopt;
    if (__builtin_add_overflow(v, u128(s.at(i) - '0'), &v)) return std::nullopt;
  }
  // Zeros between the last significant digit and the scale: "15e3" -> 15 x 10^(1 + 2 + 12).
  const int64_t shift = s.point - 1 - s.last + decimal::scale;
  for (int64_t i = 0; i < shift; ++i) {
    if (__builtin_mul_overflow(v, u128(10), &v)) return std::nullopt;
  }
  return v;
}

// The input as it appears in an error, cut short so that a huge value cannot flood a log line.
std::string quoted(std::string_view text) {
  constexpr std::size_t max_shown = 64;
  std::string out = "\"";
  out += text.substr(0, max_shown);
  if (text.size() > max_shown) out += "...";
  out += '"';
  return out;
}

}  // namespace

// -------------------------------------------------------------------------------------------
// decimal

result<decimal> decimal::parse(std::string_view text, decimal_limits limits) {
  const auto scanned = scan(text);
  if (!scanned) return fail(quoted(text), " is not a number");
  const significant_digits s = normalise(*scanned);
  if (s.is_zero()) return decimal{};  // "-0", "0e999" and "000.000" are all zero
  if (scanned->negative && !limits.allow_negative) return fail(quoted(text), " is negative");
  if (s.integer_count() > limits.max_integer_digits) {
    return fail(quoted(text), " has more than ", std::to_string(limits.max_integer_digits),
                " integer digits");
  }
  // decimal cannot hold more than `scale` fractional digits whatever the limits say.
  const int max_fraction = std::min(limits.max_fraction_digits, scale);
  if (s.fraction_count() > max_fraction) {
    return fail(quoted(text), " has more than ", std::to_string(max_fraction),
                " fractional digits");
  }
  const auto mag = to_raw_magnitude(s);
  const auto raw = mag ? signed_from(*mag, scanned->negative) : std::nullopt;
  if (!raw) return fail(quoted(text), " exceeds the decimal range (|value| < 1.7e26)");
  return from_raw(*raw);
}

std::string decimal::to_string() const {
  std::string out;
  append_to(out);
  return out;
}

std::string decimal::to_fixed(int digits, rounding_mode mode) const {
  std::string out;
  append_fixed(out, digits, mode);
  return out;
}

void decimal::append_to(std::string& out) const {
  char buf[max_text];
  out.append(buf, write_to(buf));
}

void decimal::append_fixed(std::string& out, int digits, rounding_mode mode) const {
  char buf[max_text];
  out.append(buf, write_fixed(buf, digits, mode));
}

char* decimal::write_to(char* p) const {
  const u128 mag = magnitude(raw_);
  const u128 unit = pow10_u(scale);
  if (raw_ < 0) *p++ = '-';
  u128 whole, frac;
  divide(mag, unit, whole, frac);
  p = write_uint(p, whole);
  if (frac != 0) {
    *p++ = '.';
    p = write_padded(p, frac, scale);
    while (p[-1] == '0') --p;  // the shortest text: no trailing zeros
  }
  return p;
}

char* decimal::write_fixed(char* p, int digits, rounding_mode mode) const {
  check_digits(digits);
  // Rounded on the magnitude, never re-signed: this cannot overflow even at the range edge.
  const u128 q = round_quotient<u128>(magnitude(raw_), pow10_u(scale - digits), mode);
  const u128 unit = pow10_u(digits);
  if (raw_ < 0 && q != 0) *p++ = '-';  // -0.001 prints as "0.00", not "-0.00"
  u128 whole, frac;
  divide(q, unit, whole, frac);
  p = write_uint(p, whole);
  if (digits > 0) {
    *p++ = '.';
    p = write_padded(p, frac, digits);
  }
  return p;
}

std::optional<decimal> decimal::checked_add(decimal other) const {
  rep sum;
  if (__builtin_add_overflow(raw_, other.raw_, &sum)) return std::nullopt;
  return from_raw(sum);
}

std::optional<decimal> decimal::checked_sub(decimal other) const {
  rep difference;
  if (__builtin_sub_overflow(raw_, other.raw_, &difference)) return std::nullopt;
  return from_raw(difference);
}

decimal decimal::round(int digits, rounding_mode mode) const {
  check_digits(digits);
  const u128 step = pow10_u(scale - digits);
  const u128 q = round_quotient<u128>(magnitude(raw_), step, mode);
  u128 mag;
  const bool overflow = __builtin_mul_overflow(q, step, &mag);
  const auto raw = overflow ? std::nullopt : signed_from(mag, raw_ < 0);
  MF_ASSERT(raw.has_value(), "decimal::round left the 128-bit range");
  return from_raw(*raw);
}

decimal decimal::ceil() const {
  const rep unit = pow10(scale);
  // Division truncates toward zero, which already is the ceiling for negative values.
  rep whole = raw_ / unit;
  if (raw_ > 0 && raw_ % unit != 0) ++whole;
  rep raw;
  const bool overflow = __builtin_mul_overflow(whole, unit, &raw);
  MF_ASSERT(!overflow, "decimal::ceil left the 128-bit range");
  return from_raw(raw);
}

// -------------------------------------------------------------------------------------------
// exact

exact exact::from_decimal(decimal d) {
  exact e;
  e.raw_ = rep(d.raw()) * pow10_wide(decimal::scale);
  return e;
}

exact exact::product(decimal a, decimal b) {
  // |a.raw x b.raw| < 2^254: always fits, no rounding.
  exact e;
  e.raw_ = rep(a.raw()) * rep(b.raw());
  return e;
}

// int256 arithmetic is unchecked. A product is below 2^254 and real bills are far below that,
// so reaching 2^256 would mean a broken invariant, not bad input: crash rather than wrap.
exact exact::operator+(const exact& o) const {
  exact e;
  e.raw_ = raw_ + o.raw_;
  const bool same_sign = (raw_ < 0) == (o.raw_ < 0);
  MF_ASSERT(!same_sign || abs(e.raw_) >= abs(raw_), "exact addition overflowed 256 bits");
  return e;
}

exact exact::operator-(const exact& o) const {
  exact negated;
  negated.raw_ = -o.raw_;
  return *this + negated;
}

result<decimal> exact::round(int digits, rounding_mode mode) const {
  check_digits(digits);
  // Products of everyday prices and quantities fit in 127 bits: the same exact rounding in
  // native 128-bit arithmetic instead of 256-bit multiprecision division.
  static const wide limit = wide(u128(1) << 127);
  if (raw_ > -limit && raw_ < limit) {
    const bool negative = raw_ < 0;
    const u128 mag = static_cast<u128>(negative ? wide(-raw_) : raw_);
    // 10^(24 - digits) <= 10^24 < 2^80 (and < 1.7e38, so decimal::pow10 holds it too).
    const u128 q = round_quotient<u128>(mag, u128(decimal::pow10(scale - digits)), mode);
    const u128 step = pow10_u(decimal::scale - digits);
    u128 scaled;
    if (!__builtin_mul_overflow(q, step, &scaled)) {
      if (auto raw = signed_from(scaled, negative)) return decimal::from_raw(*raw);
    }
    return fail("amount exceeds the decimal range (|value| < 1.7e26)");
  }
  return round_wide(raw_, pow10_wide(scale - digits), digits, mode);
}

// -------------------------------------------------------------------------------------------
// Free functions

result<decimal> round_ratio(decimal value, int64_t numerator, int64_t denominator, int digits,
                            rounding_mode mode) {
  check_digits(digits);
  if (denominator <= 0 || numerator < 0) {
    return fail("round_ratio: needs numerator >= 0 and denominator > 0, got ",
                std::to_string(numerator), "/", std::to_string(denominator));
  }
  // Everyday amounts and periods fit in 128 bits: the same exact division natively (as
  // exact::round does). Anything larger, or a result out of range, takes the 256-bit path.
  const u128 step = pow10_u(decimal::scale - digits);
  u128 scaled_mag, divisor_mag, rounded;
  if (!__builtin_mul_overflow(magnitude(value.raw()), u128(numerator), &scaled_mag) &&
      !__builtin_mul_overflow(u128(denominator), step, &divisor_mag)) {
    const u128 q = round_quotient<u128>(scaled_mag, divisor_mag, mode);
    if (!__builtin_mul_overflow(q, step, &rounded)) {
      if (auto raw = signed_from(rounded, value.is_negative())) return decimal::from_raw(*raw);
    }
  }
  // value.raw x numerator < 2^190, denominator x 10^12 < 2^103: one exact division in 256 bits,
  // so the tie decision sees the true remainder instead of an already-rounded quotient.
  const wide scaled = wide(value.raw()) * numerator;
  const wide divisor = wide(denominator) * pow10_wide(decimal::scale - digits);
  return round_wide(scaled, divisor, digits, mode);
}

decimal ceil_div(decimal q, decimal size) {
  MF_ASSERT(!q.is_negative(), "ceil_div needs q >= 0");
  MF_ASSERT(size > decimal{}, "ceil_div needs size > 0");
  // Both raws carry the same scale, so their integer quotient is q / size.
  const u128 num = u128(q.raw());
  const u128 den = u128(size.raw());
  const u128 packages = num / den + (num % den != 0 ? 1 : 0);
  u128 mag;
  const bool overflow = __builtin_mul_overflow(packages, pow10_u(decimal::scale), &mag);
  const auto raw = overflow ? std::nullopt : signed_from(mag, false);
  MF_ASSERT(raw.has_value(), "ceil_div: package count exceeds the decimal range");
  return decimal::from_raw(*raw);
}

}  // namespace meterflow
