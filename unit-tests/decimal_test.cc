// Exact decimal arithmetic: parsing limits, text output, rounding modes at exact ties, the
// 256-bit exact products, proration and package counts. Every expected value is hand-computed.
#include "topology/decimal.h"

#include <limits>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace meterflow {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).has_value()) << (r).error().message

constexpr decimal_limits wide_limits{40, 12, true};  // the whole 128-bit range, signed

const decimal max_decimal = decimal::from_raw(std::numeric_limits<decimal::rep>::max());
const decimal min_decimal = decimal::from_raw(std::numeric_limits<decimal::rep>::min());

// A decimal from text the test trusts; a bad literal fails the test instead of yielding 0.
decimal dec(std::string_view text) {
  auto r = decimal::parse(text, wide_limits);
  EXPECT_TRUE(r.has_value()) << text << ": " << r.error().message;
  return r.value_or(decimal{});
}

std::string str(const result<decimal>& r) {
  return r ? r->to_string() : "error: " + r.error().message;
}

constexpr auto even = rounding_mode::half_even;
constexpr auto up = rounding_mode::half_up;

// ---------------------------------------------------------------------------------------------
// Parsing

struct accepted_case {
  std::string_view text;
  decimal_limits limits;
  std::string_view expected;  // to_string() of the parsed value
};

TEST(DecimalParseTest, AcceptsWithinLimits) {
  const accepted_case cases[] = {
      {"12", event_value_limits, "12"},
      {"12.50", event_value_limits, "12.5"},
      {"0", event_value_limits, "0"},
      {"0.5", event_value_limits, "0.5"},
      {"0.000000001", event_value_limits, "0.000000001"},
      // Exactly 18 integer digits and 9 fractional digits: the largest event value.
      {"123456789012345678", event_value_limits, "123456789012345678"},
      {"999999999999999999.999999999", event_value_limits, "999999999999999999.999999999"},
      {"0.123456789", event_value_limits, "0.123456789"},
      // Catalog decimals carry 12 fractional digits.
      {"0.1234567891", catalog_limits, "0.1234567891"},
      {"0.123456789012", catalog_limits, "0.123456789012"},
      // Trailing zeros do not count: digits are counted after normalisation.
      {"1.5000000000000", event_value_limits, "1.5"},
      {"1.000000000000000000000000000000", event_value_limits, "1"},
      // Leading zeros do not count either.
      {"007", event_value_limits, "7"},
      {"000.5", event_value_limits, "0.5"},
      {"0000000000000000000000000000001", event_value_limits, "1"},
      {"000123456789012345678", event_value_limits, "123456789012345678"},
      // Exponents move the point exactly.
      {"1.5e3", event_value_limits, "1500"},
      {"15e-1", event_value_limits, "1.5"},
      {"1E2", event_value_limits, "100"},
      {"1e+2", event_value_limits, "100"},
      {"1e0", event_value_limits, "1"},
      {"12345e-4", event_value_limits, "1.2345"},
      {"100e-2", event_value_limits, "1"},
      {"1e-9", event_value_limits, "0.000000001"},
      {"1e-10", catalog_limits, "0.0000000001"},
      {"1e17", event_value_limits, "100000000000000000"},
      {"0.0000000000000000001e19", event_value_limits, "1"},
      {"100000000000000000000000000000e-29", event_value_limits, "1"},
      {"0.00000000000000000000000000000000000000012345e40", event_value_limits, "1.2345"},
      // Zero is zero whatever its sign or exponent.
      {"-0", event_value_limits, "0"},
      {"-0.000", event_value_limits, "0"},
      {"0e999999999999999999999999", event_value_limits, "0"},
      {"-0e-999999999999999999999999", event_value_limits, "0"},
      // Negative values where the limits allow them.
      {"-1.25", wide_limits, "-1.25"},
      {"-1.5e1", wide_limits, "-15"},
      // The edges of the 128-bit range.
      {"170141183460469231731687303.715884105727", wide_limits,
       "170141183460469231731687303.715884105727"},
      {"-170141183460469231731687303.715884105728", wide_limits,
       "-170141183460469231731687303.715884105728"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto r = decimal::parse(c.text, c.limits);
    ASSERT_OK(r);
    EXPECT_EQ(r->to_string(), c.expected);
  }
}

TEST(DecimalParseTest, RangeEdgesHaveExactRaw) {
  EXPECT_EQ(dec("170141183460469231731687303.715884105727"), max_decimal);
  EXPECT_EQ(dec("-170141183460469231731687303.715884105728"), min_decimal);
  EXPECT_EQ(dec("0.000000000001").raw(), 1);
  EXPECT_EQ(dec("-2.5").raw(), -decimal::rep(2'500'000'000'000));
}

struct rejected_case {
  std::string_view text;
  decimal_limits limits;
  std::string_view message;  // the whole error sentence
};

TEST(DecimalParseTest, RejectsOutsideLimits) {
  const rejected_case cases[] = {
      {"1234567890123456789", event_value_limits,
       "\"1234567890123456789\" has more than 18 integer digits"},
      {"1234567890123456789", catalog_limits,
       "\"1234567890123456789\" has more than 18 integer digits"},
      {"1e18", event_value_limits, "\"1e18\" has more than 18 integer digits"},
      {"1.0000000001", event_value_limits, "\"1.0000000001\" has more than 9 fractional digits"},
      {"0.1234567891", event_value_limits, "\"0.1234567891\" has more than 9 fractional digits"},
      {"0.1234567890123", catalog_limits,
       "\"0.1234567890123\" has more than 12 fractional digits"},
      {"1e-10", event_value_limits, "\"1e-10\" has more than 9 fractional digits"},
      {"1234.5e-9", event_value_limits, "\"1234.5e-9\" has more than 9 fractional digits"},
      {"-1", event_value_limits, "\"-1\" is negative"},
      {"-0.000000001", catalog_limits, "\"-0.000000001\" is negative"},
      // More fractional digits than decimal holds, whatever the limits say.
      {"0.0000000000001", decimal_limits{18, 20, false},
       "\"0.0000000000001\" has more than 12 fractional digits"},
      {"170141183460469231731687303.715884105728", wide_limits,
       "\"170141183460469231731687303.715884105728\" exceeds the decimal range (|value| < "
       "1.7e26)"},
      {"-170141183460469231731687303.715884105729", wide_limits,
       "\"-170141183460469231731687303.715884105729\" exceeds the decimal range (|value| < "
       "1.7e26)"},
      {"1e30", wide_limits, "\"1e30\" exceeds the decimal range (|value| < 1.7e26)"},
      {"1e41", wide_limits, "\"1e41\" has more than 40 integer digits"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto r = decimal::parse(c.text, c.limits);
    ASSERT_FALSE(r.has_value()) << r->to_string();
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(DecimalParseTest, RejectsMalformedText) {
  const std::string_view cases[] = {
      "", "-", "+1", ".5", "-.5", "5.", "5.e3", "1e", "1e+", "1e-", "e5", "0x10", " 1", "1 ",
      "1\n", "NaN", "nan", "Infinity", "-Infinity", "inf", "1.2.3", "1e2e3", "1.5e3.2", "--1",
      "-+1", "1,5", "1_000", "\"1\"", "1e2.5", "١", "0.5f", "1L", std::string_view("1\0", 2),
  };
  for (const auto text : cases) {
    SCOPED_TRACE(std::string(text));
    const auto r = decimal::parse(text, wide_limits);
    ASSERT_FALSE(r.has_value()) << r->to_string();
    EXPECT_EQ(r.error().message, "\"" + std::string(text) + "\" is not a number");
  }
}

TEST(DecimalParseTest, HugeExponentsAreRejectedWithoutLooping) {
  // These would take forever (or overflow) if the exponent were applied digit by digit.
  for (const std::string_view text :
       {"1e999999999999999999999999999999", "1e-999999999999999999999999999999",
        "1e9223372036854775807", "1e-9223372036854775808", "1e18446744073709551616"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(decimal::parse(text, wide_limits).has_value());
  }
}

TEST(DecimalParseTest, LongInputIsCutShortInTheError) {
  const std::string text = "1" + std::string(100, '0');
  const auto r = decimal::parse(text, event_value_limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "\"" + text.substr(0, 64) + "...\" has more than 18 integer digits");
}

// ---------------------------------------------------------------------------------------------
// Text output

TEST(DecimalFormatTest, ToStringIsShortestExactText) {
  EXPECT_EQ(decimal{}.to_string(), "0");
  EXPECT_EQ(decimal::from_int(-3).to_string(), "-3");
  EXPECT_EQ(decimal::from_int(12).to_string(), "12");
  EXPECT_EQ(decimal::from_raw(12'500'000'000'000).to_string(), "12.5");
  EXPECT_EQ(decimal::from_raw(1'000).to_string(), "0.000000001");
  EXPECT_EQ(decimal::from_raw(1).to_string(), "0.000000000001");
  EXPECT_EQ(decimal::from_raw(-1'500'000'000'000).to_string(), "-1.5");
  EXPECT_EQ(decimal::from_raw(100'000'000'000'010).to_string(), "100.00000000001");
  EXPECT_EQ(max_decimal.to_string(), "170141183460469231731687303.715884105727");
  EXPECT_EQ(min_decimal.to_string(), "-170141183460469231731687303.715884105728");
}

TEST(DecimalFormatTest, ToStringRoundTripsThroughParse) {
  for (const std::string_view text :
       {"0", "1", "-1", "12.5", "0.000000000001", "-0.000000000001",
        "999999999999999999.999999999999", "100", "10.01",
        "170141183460469231731687303.715884105727"}) {
    SCOPED_TRACE(text);
    const decimal d = dec(text);
    EXPECT_EQ(d.to_string(), text);
    EXPECT_EQ(dec(d.to_string()), d);
    EXPECT_EQ(dec(d.to_fixed(12)), d);  // 12 digits never round
  }
}

struct fixed_case {
  std::string_view value;
  int digits;
  std::string_view half_even;
  std::string_view half_up;
};

TEST(DecimalFormatTest, ToFixedPadsAndRounds) {
  const fixed_case cases[] = {
      {"0.6", 2, "0.60", "0.60"},
      {"-1.25", 2, "-1.25", "-1.25"},
      {"10", 0, "10", "10"},
      {"10", 2, "10.00", "10.00"},
      {"1", 12, "1.000000000000", "1.000000000000"},
      {"0.000000000001", 12, "0.000000000001", "0.000000000001"},
      {"0.125", 2, "0.12", "0.13"},
      {"9.995", 2, "10.00", "10.00"},
      {"9.985", 2, "9.98", "9.99"},
      {"2.5", 0, "2", "3"},
      {"-2.5", 0, "-2", "-3"},
      {"0.05", 1, "0.0", "0.1"},
      // Zero prints unsigned, even when a negative value rounds to it.
      {"-0.001", 2, "0.00", "0.00"},
      {"-0.005", 2, "0.00", "-0.01"},
      // Rounding at the edge of the range prints the true result instead of overflowing.
      {"-170141183460469231731687303.715884105728", 0, "-170141183460469231731687304",
       "-170141183460469231731687304"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.value) + " to " + std::to_string(c.digits));
    const decimal d = dec(c.value);
    EXPECT_EQ(d.to_fixed(c.digits, even), c.half_even);
    EXPECT_EQ(d.to_fixed(c.digits, up), c.half_up);
  }
  EXPECT_EQ(dec("0.125").to_fixed(2), "0.12");  // half_even is the default
}

// ---------------------------------------------------------------------------------------------
// Rounding

struct rounding_case {
  std::string_view value;
  int digits;
  std::string_view half_even;
  std::string_view half_up;
};

TEST(DecimalRoundingTest, TiesAndNonTies) {
  const rounding_case cases[] = {
      // Exact ties: half_even goes to the even neighbour, half_up away from zero.
      {"0.125", 2, "0.12", "0.13"},
      {"0.135", 2, "0.14", "0.14"},
      {"2.5", 0, "2", "3"},
      {"3.5", 0, "4", "4"},
      {"0.5", 0, "0", "1"},
      {"-0.125", 2, "-0.12", "-0.13"},
      {"-0.135", 2, "-0.14", "-0.14"},
      {"-2.5", 0, "-2", "-3"},
      // Half a cent.
      {"10.005", 2, "10", "10.01"},
      {"10.015", 2, "10.02", "10.02"},
      {"-10.005", 2, "-10", "-10.01"},
      {"0.000000000005", 11, "0", "0.00000000001"},
      // Not ties: both modes go to the nearer neighbour.
      {"0.1251", 2, "0.13", "0.13"},
      {"0.1249", 2, "0.12", "0.12"},
      {"-0.1251", 2, "-0.13", "-0.13"},
      {"0.124999999999", 2, "0.12", "0.12"},
      {"0.499999999999", 0, "0", "0"},
      {"0.500000000001", 0, "1", "1"},
      {"2.4", 0, "2", "2"},
      // Nothing to round.
      {"1.23", 2, "1.23", "1.23"},
      {"1.23", 12, "1.23", "1.23"},
      {"0", 0, "0", "0"},
      {"0.000000000001", 12, "0.000000000001", "0.000000000001"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.value) + " to " + std::to_string(c.digits));
    const decimal d = dec(c.value);
    EXPECT_EQ(d.round(c.digits, even).to_string(), c.half_even);
    EXPECT_EQ(d.round(c.digits, up).to_string(), c.half_up);
  }
}

TEST(DecimalRoundingTest, RoundingIsSymmetricAroundZero) {
  for (const std::string_view text :
       {"0.125", "0.135", "2.5", "0.1251", "7.005", "1.999999999995"}) {
    SCOPED_TRACE(text);
    const decimal d = dec(text);
    for (const auto mode : {even, up}) {
      for (int digits = 0; digits <= decimal::scale; ++digits) {
        EXPECT_EQ((-d).round(digits, mode), -(d.round(digits, mode)));
      }
    }
  }
}

TEST(DecimalRoundingTest, Ceil) {
  EXPECT_EQ(dec("2.5").ceil().to_string(), "3");
  EXPECT_EQ(dec("2").ceil().to_string(), "2");
  EXPECT_EQ(dec("0").ceil().to_string(), "0");
  EXPECT_EQ(dec("0.000000000001").ceil().to_string(), "1");
  EXPECT_EQ(dec("-2.5").ceil().to_string(), "-2");
  EXPECT_EQ(dec("-0.000000000001").ceil().to_string(), "0");
  EXPECT_EQ(dec("-3").ceil().to_string(), "-3");
}

// ---------------------------------------------------------------------------------------------
// Checked arithmetic

TEST(DecimalArithmeticTest, CheckedAddAndSub) {
  EXPECT_EQ(dec("1.5").checked_add(dec("2.25")), dec("3.75"));
  EXPECT_EQ(dec("1").checked_sub(dec("2.5")), dec("-1.5"));
  EXPECT_EQ(dec("0.1").checked_add(dec("0.2")), dec("0.3"));  // exactly 0.3
  EXPECT_EQ(max_decimal.checked_add(decimal{}), max_decimal);
  EXPECT_EQ(min_decimal.checked_sub(min_decimal), decimal{});
  EXPECT_EQ(max_decimal.checked_add(min_decimal), decimal::from_raw(-1));
}

TEST(DecimalArithmeticTest, OverflowIsDetected) {
  const decimal ulp = decimal::from_raw(1);
  EXPECT_EQ(max_decimal.checked_add(ulp), std::nullopt);
  EXPECT_EQ(ulp.checked_add(max_decimal), std::nullopt);
  EXPECT_EQ(max_decimal.checked_add(max_decimal), std::nullopt);
  EXPECT_EQ(min_decimal.checked_add(-ulp), std::nullopt);
  EXPECT_EQ(min_decimal.checked_sub(ulp), std::nullopt);
  EXPECT_EQ(max_decimal.checked_sub(-ulp), std::nullopt);
  EXPECT_EQ(decimal{}.checked_sub(min_decimal), std::nullopt);  // -min does not exist
  EXPECT_EQ(decimal{}.checked_sub(max_decimal), -max_decimal);
}

// ---------------------------------------------------------------------------------------------
// exact

TEST(ExactTest, ProductIsExact) {
  // 1.5 x 2.25 = 3.375, scale 24.
  EXPECT_EQ(exact::product(dec("1.5"), dec("2.25")).raw(),
            exact::rep("3375000000000000000000000"));
  // The smallest units: 10^-12 x 10^-12 = 10^-24 = raw 1.
  EXPECT_EQ(exact::product(decimal::from_raw(1), decimal::from_raw(1)).raw(), exact::rep(1));
  EXPECT_EQ(exact::product(dec("-2"), dec("0.5")).raw(), exact::rep("-1000000000000000000000000"));
  EXPECT_EQ(exact::from_decimal(dec("1.5")).raw(), exact::rep("1500000000000000000000000"));
  EXPECT_EQ(exact::from_decimal(dec("1.5")), exact::product(dec("1.5"), dec("1")));
}

TEST(ExactTest, ProductOfLargestValuesIsExact) {
  // (2^127 - 1)^2 = 2^254 - 2^128 + 1.
  const exact::rep max_squared(
      "28948022309329048855892746252171976962977213799489202546401021394546514198529");
  EXPECT_EQ(max_squared, (exact::rep(1) << 254) - (exact::rep(1) << 128) + 1);
  EXPECT_EQ(exact::product(max_decimal, max_decimal).raw(), max_squared);
  // (-2^127)^2 = 2^254; (2^127 - 1) x -2^127 = -(2^254 - 2^127).
  const exact::rep min_squared(
      "28948022309329048855892746252171976963317496166410141009864396001978282409984");
  const exact::rep max_times_min(
      "-28948022309329048855892746252171976963147354982949671778132708698262398304256");
  EXPECT_EQ(min_squared, exact::rep(1) << 254);
  EXPECT_EQ(max_times_min, -((exact::rep(1) << 254) - (exact::rep(1) << 127)));
  EXPECT_EQ(exact::product(min_decimal, min_decimal).raw(), min_squared);
  EXPECT_EQ(exact::product(max_decimal, min_decimal).raw(), max_times_min);
}

TEST(ExactTest, SumsRoundOnceAtTheEnd) {
  // 0.004 + 0.004 = 0.008 -> 0.01; rounding each term first would give 0.00.
  const exact one_line = exact::product(dec("1"), dec("0.004"));
  EXPECT_EQ(str((one_line + one_line).round(2, even)), "0.01");
  // 3 x 0.333333333333 = 0.999999999999 -> 1.
  EXPECT_EQ(str(exact::product(dec("3"), dec("0.333333333333")).round(2, even)), "1");
  // 2 x 0.5 - 3 x 0.5 = -0.5: a tie below zero.
  const exact diff = exact::product(dec("2"), dec("0.5")) - exact::product(dec("3"), dec("0.5"));
  EXPECT_EQ(diff.raw(), exact::rep("-500000000000000000000000"));
  EXPECT_EQ(str(diff.round(0, even)), "0");
  EXPECT_EQ(str(diff.round(0, up)), "-1");
  EXPECT_LT(exact::product(dec("1"), dec("2")), exact::product(dec("1"), dec("3")));
  EXPECT_GT(exact{}, diff);
}

struct exact_rounding_case {
  std::string_view a;
  std::string_view b;
  int digits;
  std::string_view half_even;
  std::string_view half_up;
};

TEST(ExactTest, RoundingTiesAndNonTies) {
  const exact_rounding_case cases[] = {
      {"0.5", "0.25", 2, "0.12", "0.13"},        // 0.125
      {"0.5", "0.27", 2, "0.14", "0.14"},        // 0.135
      {"5", "0.5", 0, "2", "3"},                 // 2.5
      {"-0.5", "0.25", 2, "-0.12", "-0.13"},     // -0.125
      {"2.001", "5", 2, "10", "10.01"},          // 10.005, half a cent
      {"0.000000000001", "0.5", 12, "0", "0.000000000001"},  // a tie in the 13th digit
      {"0.000000000003", "0.5", 12, "0.000000000002", "0.000000000002"},
      // The tie is decided on all 24 digits: 0.1250000000005 is not a tie.
      {"0.250000000001", "0.5", 2, "0.13", "0.13"},
      {"-0.250000000001", "0.5", 2, "-0.13", "-0.13"},
      {"1.23", "1", 12, "1.23", "1.23"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.a) + " x " + std::string(c.b));
    const exact e = exact::product(dec(c.a), dec(c.b));
    EXPECT_EQ(str(e.round(c.digits, even)), c.half_even);
    EXPECT_EQ(str(e.round(c.digits, up)), c.half_up);
  }
}

TEST(ExactTest, RoundOutsideDecimalRangeIsAnError) {
  const std::string_view message = "amount exceeds the decimal range (|value| < 1.7e26)";
  // 10^14 x 10^13 = 10^27 > 1.7e26.
  const auto big = exact::product(decimal::from_int(100'000'000'000'000),
                                  decimal::from_int(10'000'000'000'000)).round(2, even);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().message, message);
  EXPECT_FALSE(exact::product(max_decimal, max_decimal).round(12, even).has_value());
  EXPECT_FALSE(exact::product(max_decimal, min_decimal).round(0, up).has_value());
  // The largest values fit at 12 digits but round up past the range at 0 digits
  // (...303.7158... -> ...304).
  EXPECT_EQ(exact::from_decimal(max_decimal).round(12, even), max_decimal);
  EXPECT_EQ(exact::from_decimal(min_decimal).round(12, even), min_decimal);
  EXPECT_FALSE(exact::from_decimal(max_decimal).round(0, even).has_value());
  EXPECT_FALSE(exact::from_decimal(min_decimal).round(0, even).has_value());
  EXPECT_EQ(exact::product(max_decimal, decimal::from_int(1)).round(12, even), max_decimal);
}

// ---------------------------------------------------------------------------------------------
// round_ratio (proration)

constexpr int64_t day = 86'400;
constexpr int64_t hour = 3'600;

struct ratio_case {
  std::string_view value;
  int64_t numerator;
  int64_t denominator;
  int digits;
  std::string_view half_even;
  std::string_view half_up;
};

TEST(RoundRatioTest, Proration) {
  const ratio_case cases[] = {
      // 31-day months: 20 x 15/31 = 9.677..., 40 x 16/31 = 20.645...
      {"20.00", 15 * day, 31 * day, 2, "9.68", "9.68"},
      {"40.00", 16 * day, 31 * day, 2, "20.65", "20.65"},
      // 0.4495 x 10/31 = 0.145 exactly: a tie only the exact remainder reveals.
      {"0.4495", 10 * day, 31 * day, 2, "0.14", "0.15"},
      {"0.4805", 10 * day, 31 * day, 2, "0.16", "0.16"},  // 0.155
      {"0.4496", 10 * day, 31 * day, 2, "0.15", "0.15"},  // 0.14503...: not a tie
      // 30-day months: 10 x 1/30 = 0.333..., 10 x 29/30 = 9.666...; 0.03 x 5/30 = 0.005.
      {"10.00", 1 * day, 30 * day, 2, "0.33", "0.33"},
      {"10.00", 29 * day, 30 * day, 2, "9.67", "9.67"},
      {"0.03", 5 * day, 30 * day, 2, "0", "0.01"},
      // 28-day February: 49.97 x 14/28 = 24.985, 49.99 x 14/28 = 24.995.
      {"49.97", 14 * day, 28 * day, 2, "24.98", "24.99"},
      {"49.99", 14 * day, 28 * day, 2, "25", "25"},
      {"49.99", 1 * day, 28 * day, 2, "1.79", "1.79"},  // 1.785357...
      // DST months in local time: 743 and 745 hours instead of 744.
      {"49.99", 743 * hour, 744 * hour, 2, "49.92", "49.92"},  // 49.92280...
      {"49.99", 745 * hour, 744 * hour, 2, "50.06", "50.06"},  // 50.05719...
      {"49.99", 743 * hour, 743 * hour, 2, "49.99", "49.99"},
      {"49.99", 1 * hour, 745 * hour, 2, "0.07", "0.07"},  // 0.067100...
      // Negative values are symmetric.
      {"-49.97", 14 * day, 28 * day, 2, "-24.98", "-24.99"},
      // Whole, empty and finer-grained ratios.
      {"49.99", 31 * day, 31 * day, 2, "49.99", "49.99"},
      {"49.99", 0, 31 * day, 2, "0", "0"},
      {"1", 1, 3, 12, "0.333333333333", "0.333333333333"},
      {"2", 1, 3, 12, "0.666666666667", "0.666666666667"},
      {"2.5", 1, 1, 0, "2", "3"},
      {"0.000000000001", 1, 2, 12, "0", "0.000000000001"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.value) + " x " + std::to_string(c.numerator) + "/" +
                 std::to_string(c.denominator));
    const decimal v = dec(c.value);
    EXPECT_EQ(str(round_ratio(v, c.numerator, c.denominator, c.digits, even)), c.half_even);
    EXPECT_EQ(str(round_ratio(v, c.numerator, c.denominator, c.digits, up)), c.half_up);
  }
}

TEST(RoundRatioTest, SegmentsOfAMonthAddUpWhenNoTieIsLost) {
  // 10.00 over a 30-day month split 1 + 29 days: 0.33 + 9.67 = 10.00.
  const auto a = round_ratio(dec("10.00"), 1 * day, 30 * day, 2, even);
  const auto b = round_ratio(dec("10.00"), 29 * day, 30 * day, 2, even);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->checked_add(*b), dec("10"));
}

TEST(RoundRatioTest, LargeOperandsDoNotOverflow) {
  // max x INT64_MAX / INT64_MAX needs 190 bits in between.
  constexpr int64_t big = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(round_ratio(max_decimal, big, big, 12, even), max_decimal);
  EXPECT_EQ(round_ratio(min_decimal, big, big, 12, even), min_decimal);
  EXPECT_EQ(str(round_ratio(dec("999999999999999999.99"), big - 1, big, 2, even)),
            "999999999999999999.88");  // minus 0.10842...: the ratio is 1 - 1.08e-19
}

TEST(RoundRatioTest, Errors) {
  const auto zero_den = round_ratio(dec("1"), 1, 0, 2, even);
  ASSERT_FALSE(zero_den.has_value());
  EXPECT_EQ(zero_den.error().message,
            "round_ratio: needs numerator >= 0 and denominator > 0, got 1/0");
  EXPECT_FALSE(round_ratio(dec("1"), 1, -5, 2, even).has_value());
  EXPECT_FALSE(round_ratio(dec("1"), -1, 5, 2, even).has_value());
  const auto too_big = round_ratio(max_decimal, 2, 1, 2, even);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().message, "amount exceeds the decimal range (|value| < 1.7e26)");
}

// ---------------------------------------------------------------------------------------------
// ceil_div (package counts)

struct ceil_div_case {
  std::string_view q;
  std::string_view size;
  std::string_view expected;
};

TEST(CeilDivTest, PackageCounts) {
  const ceil_div_case cases[] = {
      {"11", "10", "2"},
      {"0", "10", "0"},
      {"10", "10", "1"},
      {"9.999999999999", "10", "1"},
      {"10.000000000001", "10", "2"},
      {"0.000000001", "10", "1"},
      {"2.5", "0.5", "5"},
      {"2.6", "0.5", "6"},
      {"1", "0.3", "4"},
      {"0.9", "0.3", "3"},
      {"0.000000000001", "0.000000000001", "1"},
      {"100", "0.000000000001", "100000000000000"},
      {"999999999999999999.999999999999", "1", "1000000000000000000"},
      {"1000000", "1000", "1000"},
      {"1000001", "1000", "1001"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.q) + " / " + std::string(c.size));
    EXPECT_EQ(ceil_div(dec(c.q), dec(c.size)).to_string(), c.expected);
  }
}

// Text output and exact rounding take native 64- and 128-bit shortcuts when the values fit;
// the results either side of each boundary must match the general path.
TEST(DecimalTest, FastPathBoundaries) {
  using rep = decimal::rep;
  const rep two64 = rep(1) << 64;
  EXPECT_EQ(decimal::from_raw(two64 - 1).to_string(), "18446744.073709551615");
  EXPECT_EQ(decimal::from_raw(two64).to_string(), "18446744.073709551616");
  EXPECT_EQ(decimal::from_raw(-two64).to_string(), "-18446744.073709551616");
  EXPECT_EQ(decimal::from_raw(two64 - 1).to_fixed(2), "18446744.07");
  EXPECT_EQ(decimal::from_raw(two64 * 1000).to_fixed(3), "18446744073.710");
  std::string appended = "x";
  decimal::from_raw(two64).append_to(appended);
  decimal::from_raw(-1).append_fixed(appended, 12);
  EXPECT_EQ(appended, "x18446744.073709551616-0.000000000001");

  // exact raws 2^127 - 1 (native path) and 2^127 (256-bit path), both signs.
  const decimal max_raw = decimal::from_raw(std::numeric_limits<rep>::max());
  const decimal one_raw = decimal::from_raw(1);
  auto below = exact::product(max_raw, one_raw).round(2, rounding_mode::half_up);
  auto at = exact::product(decimal::from_raw(two64), decimal::from_raw(rep(1) << 63))
                .round(2, rounding_mode::half_up);
  auto below_negative = exact::product(-max_raw, one_raw).round(2, rounding_mode::half_even);
  ASSERT_OK(below);
  ASSERT_OK(at);
  ASSERT_OK(below_negative);
  EXPECT_EQ(below->to_string(), "170141183460469.23");
  EXPECT_EQ(at->to_string(), "170141183460469.23");
  EXPECT_EQ(below_negative->to_string(), "-170141183460469.23");
  // A tie just inside the native range: 0.125 at 24 digits, both modes.
  EXPECT_EQ(exact::product(dec("0.125"), dec("1")).round(2, rounding_mode::half_even)->to_string(),
            "0.12");
  EXPECT_EQ(exact::product(dec("0.125"), dec("1")).round(2, rounding_mode::half_up)->to_string(),
            "0.13");
  // Rounding past decimal's range is still an error on the native path.
  EXPECT_FALSE(exact::product(max_raw, decimal::from_int(1)).round(2, rounding_mode::half_up));
}

}  // namespace
}  // namespace meterflow
