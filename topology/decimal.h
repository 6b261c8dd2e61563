// Exact decimal arithmetic for quantities, prices and amounts. No binary floating point.
//
// `decimal` is a fixed-point number: value = raw() / 10^12, held in a signed 128-bit integer
// (|value| < 1.7e26). Every operation that could leave that range is checked and reports
// failure instead of wrapping. `exact` holds the exact product of two decimals (24 fractional
// digits, 256-bit), so sums of products such as Q x unit_price lose nothing until one explicit
// rounding step at the end (SPEC §2 Rounding).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/multiprecision/cpp_int.hpp>

#include "base/result.h"

namespace meterflow {

// How a value exactly halfway between two candidates (a tie) is rounded; anything else goes to
// the nearer candidate. Rounding is symmetric around zero: -x rounds to -(round x).
//   half_even: ties go to the even neighbour (banker's rounding): 0.125 -> 0.12, 2.5 -> 2.
//   half_up:   ties go away from zero: 0.125 -> 0.13, 2.5 -> 3, -2.5 -> -3.
enum class rounding_mode { half_even, half_up };

// Limits of the text accepted by decimal::parse.
struct decimal_limits {
  int max_integer_digits = 18;     // Default: 18 (SPEC §1 and §2).
  int max_fraction_digits = 9;     // Default: 9 for event values; catalogs use 12.
  bool allow_negative = false;     // Default: false (event values are never negative).
};

inline constexpr decimal_limits event_value_limits{18, 9, false};
inline constexpr decimal_limits catalog_limits{18, 12, false};

class decimal {
 public:
  using rep = __int128;
  static constexpr int scale = 12;  // fractional digits held

  constexpr decimal() = default;
  static constexpr decimal from_raw(rep raw) { decimal d; d.raw_ = raw; return d; }
  static constexpr decimal from_int(int64_t v) { return from_raw(rep(v) * pow10(scale)); }
  constexpr rep raw() const { return raw_; }

  // Parses the exact text of a JSON number or a decimal string: "12", "12.50", "0.000000001",
  // "1.5e3" (an exponent is accepted when the result fits the limits: "1e-10" does not fit 9
  // fractional digits). No leading '+', no hex, no spaces, no "NaN"/"Infinity", no empty
  // integer part (".5") and no trailing dot ("5."). Leading zeros are accepted ("007").
  // Digits are counted after normalisation: "1.500" has 1 significant fractional digit.
  // Errors say what was wrong ("more than 9 fractional digits", "negative", "not a number").
  static result<decimal> parse(std::string_view text, decimal_limits limits);

  // Shortest exact text: "12.5", "0", "-3", "0.000000001". Never an exponent.
  std::string to_string() const;
  // Exactly `digits` fractional digits (0..12), rounding with `mode` if the value has more:
  // "0.60", "-1.25", "10" (digits 0). A value that rounds to zero prints unsigned ("0.00").
  std::string to_fixed(int digits, rounding_mode mode = rounding_mode::half_even) const;
  // The same texts appended to `out`: output lines are built without a string per number.
  void append_to(std::string& out) const;
  void append_fixed(std::string& out, int digits,
                    rounding_mode mode = rounding_mode::half_even) const;
  // The same texts written at `p`, which has room for max_text bytes; return their end.
  static constexpr size_t max_text = 48;  // sign, 27 integer digits, point, 12 digits
  char* write_to(char* p) const;
  char* write_fixed(char* p, int digits, rounding_mode mode = rounding_mode::half_even) const;

  // Checked arithmetic: nullopt on overflow of the 128-bit range.
  std::optional<decimal> checked_add(decimal other) const;
  std::optional<decimal> checked_sub(decimal other) const;

  // Rounds to `digits` fractional digits (0..12). Rounding up past the 128-bit range (only
  // possible within one step of |value| = 1.7e26) is a broken invariant and crashes.
  decimal round(int digits, rounding_mode mode) const;
  // Smallest integer >= value (as a decimal).
  decimal ceil() const;

  constexpr bool is_zero() const { return raw_ == 0; }
  constexpr bool is_negative() const { return raw_ < 0; }
  constexpr decimal operator-() const { return from_raw(-raw_); }
  friend constexpr auto operator<=>(decimal a, decimal b) { return a.raw_ <=> b.raw_; }
  friend constexpr bool operator==(decimal a, decimal b) { return a.raw_ == b.raw_; }

  // 10^n for 0 <= n <= 38 (10^38 < 2^127), from a table: rounding and printing take several
  // per output line.
  static constexpr rep pow10(int n) { return pow10_table[n]; }

 private:
  static constexpr auto pow10_table = [] {
    std::array<rep, 39> t{};
    t[0] = 1;
    for (size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] * 10;
    return t;
  }();

  rep raw_ = 0;
};

// An exact value with 24 fractional digits: raw / 10^24. Products of two decimals and their sums.
class exact {
 public:
  using rep = boost::multiprecision::int256_t;
  static constexpr int scale = 2 * decimal::scale;

  exact() = default;
  static exact from_decimal(decimal d);
  static exact product(decimal a, decimal b);  // a x b, exactly
  const rep& raw() const { return raw_; }

  // Exact sums. Leaving the 256-bit range (far beyond any bill) is a broken invariant: crashes.
  exact operator+(const exact& o) const;
  exact operator-(const exact& o) const;
  friend bool operator==(const exact& a, const exact& b) { return a.raw_ == b.raw_; }
  friend auto operator<=>(const exact& a, const exact& b) {
    return a.raw_ < b.raw_ ? std::strong_ordering::less
           : a.raw_ > b.raw_ ? std::strong_ordering::greater
                             : std::strong_ordering::equal;
  }

  // Rounds to `digits` fractional digits (0..12). Fails if the result leaves decimal's range.
  result<decimal> round(int digits, rounding_mode mode) const;

 private:
  rep raw_ = 0;
};

// round(value x numerator / denominator) to `digits` fractional digits, computed exactly
// (proration: amount x segment seconds / period seconds): the tie is decided on the exact
// remainder, never on an intermediate rounding. Needs denominator > 0 and numerator >= 0; fails
// otherwise, or if the result leaves decimal's range.
result<decimal> round_ratio(decimal value, int64_t numerator, int64_t denominator, int digits,
                            rounding_mode mode);

// ceil(q / size) for q >= 0, size > 0: the number of packages (SPEC §2 package model), as an
// integer-valued decimal: ceil_div(11, 10) = 2, ceil_div(0, 10) = 0, ceil_div(2.5, 0.5) = 5.
// A count beyond decimal's range (q / size >= 1.7e26) is a broken invariant and crashes.
decimal ceil_div(decimal q, decimal size);

}  // namespace meterflow
