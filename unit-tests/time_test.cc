// Tests for topology/time.h. Every expected instant below is written by hand from the zone's
// offsets (checked against `zdump -v -c 2009,2028 <zone>`, tzdata 2025b) and built with
// std::chrono's calendar, never with the code under test.
#include "topology/time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iterator>
#include <ostream>
#include <cstdint>
#include <string>
#include <string_view>

namespace meterflow {

// Readable failures. Found by ADL, so they live in meterflow; static keeps them out of other
// test files' way.
static void PrintTo(timestamp t, std::ostream* os) {
  *os << format_utc(t) << " (" << t.ms << ")";
}
static void PrintTo(const period& p, std::ostream* os) {
  *os << "[" << format_utc(p.start) << ", " << format_utc(p.end) << ")";
}

namespace {

using std::chrono::hours;

// An instant from UTC calendar fields, independent of parse_rfc3339.
timestamp utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  const std::chrono::sys_days day =
      std::chrono::year{y} / std::chrono::month{mo} / std::chrono::day{d};
  const auto since_epoch = std::chrono::duration_cast<millis>(day.time_since_epoch());
  return timestamp{since_epoch.count() + ((int64_t{h} * 60 + mi) * 60 + s) * 1000 + ms};
}

#define ASSERT_OK(r) ASSERT_TRUE((r).has_value()) << (r).error().message

// ---------------------------------------------------------------------------------------------
// RFC 3339

TEST(Rfc3339Test, HelperMatchesKnownEpochValues) {
  // Guards the test helper itself (values from an independent calculator).
  EXPECT_EQ(utc(1970, 1, 1).ms, 0);
  EXPECT_EQ(utc(2026, 11, 3, 9, 15, 0, 250).ms, 1793697300250);
  EXPECT_EQ(utc(2026, 9, 30, 22).ms, 1790805600000);
}

struct valid_case {
  std::string_view text;
  timestamp expected;
};

TEST(Rfc3339Test, ParsesValidForms) {
  const valid_case cases[] = {
      {"2026-11-03T09:15:00Z", utc(2026, 11, 3, 9, 15)},
      {"2026-11-03T10:15:00+01:00", utc(2026, 11, 3, 9, 15)},
      {"2026-11-03T10:15:00-05:30", utc(2026, 11, 3, 15, 45)},
      {"2026-11-03T10:15:00+05:30", utc(2026, 11, 3, 4, 45)},
      {"2026-11-03T10:15:00-00:00", utc(2026, 11, 3, 10, 15)},
      {"2026-11-03T10:15:00+23:59", utc(2026, 11, 2, 10, 16)},
      {"2026-11-03T10:15:00-23:59", utc(2026, 11, 4, 10, 14)},
      // SPEC §1 example.
      {"2026-11-03T10:15:00.250+01:00", utc(2026, 11, 3, 9, 15, 0, 250)},
      // Fractions of 1, 3, 4, 6 and 9 digits: truncated, never rounded.
      {"2026-11-03T09:15:00.2Z", utc(2026, 11, 3, 9, 15, 0, 200)},
      {"2026-11-03T09:15:00.025Z", utc(2026, 11, 3, 9, 15, 0, 25)},
      {"2026-11-03T09:15:00.2509Z", utc(2026, 11, 3, 9, 15, 0, 250)},
      {"2026-11-03T09:15:00.250999Z", utc(2026, 11, 3, 9, 15, 0, 250)},
      {"2026-11-03T09:15:00.999999999Z", utc(2026, 11, 3, 9, 15, 0, 999)},
      {"2026-11-03T09:15:00.000000001Z", utc(2026, 11, 3, 9, 15)},
      // Lowercase separators.
      {"2026-11-03t09:15:00z", utc(2026, 11, 3, 9, 15)},
      {"2026-11-03t10:15:00.5+01:00", utc(2026, 11, 3, 9, 15, 0, 500)},
      // Leap days.
      {"2028-02-29T12:00:00Z", utc(2028, 2, 29, 12)},
      {"2000-02-29T00:00:00Z", utc(2000, 2, 29)},
      // The offset moves the instant across a year boundary, both ways.
      {"2026-12-31T23:30:00-01:00", utc(2027, 1, 1, 0, 30)},
      {"2027-01-01T00:30:00+01:00", utc(2026, 12, 31, 23, 30)},
      // Extremes of the 4-digit year range and the epoch.
      {"1970-01-01T00:00:00Z", timestamp{0}},
      {"1969-12-31T23:59:59.999Z", timestamp{-1}},
      {"0000-01-01T00:00:00Z", utc(0, 1, 1)},
      {"9999-12-31T23:59:59.999Z", utc(9999, 12, 31, 23, 59, 59, 999)},
      // A leap second (23:59:60 UTC, also when written with an offset) folds to :59.999.
      {"2016-12-31T23:59:60Z", utc(2016, 12, 31, 23, 59, 59, 999)},
      {"2016-12-31T23:59:60.5Z", utc(2016, 12, 31, 23, 59, 59, 999)},
      {"2016-12-31T18:59:60-05:00", utc(2016, 12, 31, 23, 59, 59, 999)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto r = parse_rfc3339(c.text);
    ASSERT_OK(r);
    EXPECT_EQ(*r, c.expected);
  }
}

TEST(Rfc3339Test, RejectsInvalidForms) {
  const std::string_view cases[] = {
      "",
      "yesterday",
      "2026-11-03",
      "2026-11-03T10:15Z",               // no seconds
      "2026-02-29T00:00:00Z",            // 2026 is not a leap year
      "1900-02-29T00:00:00Z",            // nor is 1900
      "2026-04-31T00:00:00Z",            // April has 30 days
      "2026-13-01T00:00:00Z",            // month 13
      "2026-00-10T00:00:00Z",            // month 0
      "2026-11-00T00:00:00Z",            // day 0
      "2026-11-03T24:00:00Z",            // hour 24
      "2026-11-03T10:60:00Z",            // minute 60
      "2026-11-03T10:15:61Z",            // second 61
      "2026-11-03T10:15:60Z",            // 60 that is not 23:59:60 UTC
      "2016-12-31T23:59:60+01:00",       // 22:59:60 UTC: not a leap second
      "2026-11-03T10:15:00+24:00",       // offset hours
      "2026-11-03T10:15:00+01:60",       // offset minutes
      "2026-11-03T10:15:00+0100",        // offset without colon
      "2026-11-03T10:15:00+01",          // truncated offset
      "2026-11-03T10:15:00+1:00",        // one-digit offset hour
      "2026-11-03T10:15:00Zjunk",        // trailing garbage
      "2026-11-03T10:15:00Z ",           // trailing space
      "2026-11-03T10:15:00+01:00Z",      // two offsets
      "2026-11-03 10:15:00Z",            // space instead of T
      "2026-11-03T10:15:00.Z",           // empty fraction
      "2026-11-03T10:15:00,250Z",        // comma fraction
      "2026-11-03T10:15:00.25x+01:00",   // garbage in the fraction
      "26-11-03T10:15:00Z",              // two-digit year
      "2026-1-03T10:15:00Z",             // one-digit month
      "+2026-11-03T10:15:00Z",           // signed year
      " 2026-11-03T10:15:00Z",           // leading space
      "2026-11-03T10:15:00UTC",          // not an offset
  };
  for (const auto text : cases) {
    SCOPED_TRACE(text);
    const auto r = parse_rfc3339(text);
    ASSERT_FALSE(r.has_value()) << format_utc(*r);
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(Rfc3339Test, ErrorsAreSentences) {
  const auto garbage = parse_rfc3339("yesterday");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().message, "time \"yesterday\" is not RFC 3339");

  const auto no_offset = parse_rfc3339("2026-11-03T10:15:00.250");
  ASSERT_FALSE(no_offset.has_value());
  EXPECT_EQ(no_offset.error().message, "time has no UTC offset: \"2026-11-03T10:15:00.250\"");

  const auto bad_day = parse_rfc3339("2026-02-29T00:00:00Z");
  ASSERT_FALSE(bad_day.has_value());
  EXPECT_NE(bad_day.error().message.find("day"), std::string::npos) << bad_day.error().message;

  // A huge value is cut in the message.
  const std::string long_text(10'000, 'x');
  const auto huge = parse_rfc3339(long_text);
  ASSERT_FALSE(huge.has_value());
  EXPECT_LT(huge.error().message.size(), 200u);
}

// ---------------------------------------------------------------------------------------------
// format_utc

TEST(FormatUtcTest, FormatsWholeSecondsWithoutFraction) {
  EXPECT_EQ(format_utc(timestamp{0}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(utc(2026, 11, 3, 9)), "2026-11-03T09:00:00Z");
  EXPECT_EQ(format_utc(utc(2028, 2, 29, 23, 59, 59)), "2028-02-29T23:59:59Z");
  EXPECT_EQ(format_utc(utc(2000, 1, 1)), "2000-01-01T00:00:00Z");
}

TEST(FormatUtcTest, FormatsMillisecondsWhenNonZero) {
  EXPECT_EQ(format_utc(utc(2026, 11, 3, 9, 0, 0, 250)), "2026-11-03T09:00:00.250Z");
  EXPECT_EQ(format_utc(utc(2026, 11, 3, 9, 0, 0, 5)), "2026-11-03T09:00:00.005Z");
  EXPECT_EQ(format_utc(utc(2026, 11, 3, 9, 0, 0, 40)), "2026-11-03T09:00:00.040Z");
  EXPECT_EQ(format_utc(utc(2026, 12, 31, 23, 59, 59, 999)), "2026-12-31T23:59:59.999Z");
}

TEST(FormatUtcTest, FormatsInstantsBeforeTheEpoch) {
  EXPECT_EQ(format_utc(timestamp{-1}), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_utc(timestamp{-86'400'000}), "1969-12-31T00:00:00Z");
  EXPECT_EQ(format_utc(utc(0, 1, 1)), "0000-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(utc(999, 3, 1, 1, 2, 3)), "0999-03-01T01:02:03Z");
}

TEST(FormatUtcTest, RoundTripsThroughParse) {
  for (const std::string_view text :
       {"2026-11-03T09:15:00.250Z", "2027-01-01T00:30:00Z", "1999-12-31T23:59:59.001Z"}) {
    const auto r = parse_rfc3339(text);
    ASSERT_OK(r);
    EXPECT_EQ(format_utc(*r), text);
  }
}

TEST(FormatUtcTest, DoesNotOverflowAtTheExtremes) {
  // Not meaningful dates, but they must not be undefined behaviour (run under UBSan).
  EXPECT_FALSE(format_utc(timestamp{INT64_MIN}).empty());
  EXPECT_FALSE(format_utc(timestamp{INT64_MAX}).empty());
}

// ---------------------------------------------------------------------------------------------
// Durations

TEST(DurationTest, ParsesUnitsAndBareMilliseconds) {
  const struct {
    std::string_view text;
    int64_t ms;
  } cases[] = {
      {"250ms", 250},
      {"300s", 300'000},
      {"5m", 300'000},
      {"48h", 172'800'000},
      {"2d", 172'800'000},
      {"300000", 300'000},
      {"0", 0},
      {"0s", 0},
      {"007s", 7'000},
      {"9223372036854775807", INT64_MAX},
      {"106751991167d", 106751991167 * 86'400'000},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto r = parse_duration(c.text);
    ASSERT_OK(r);
    EXPECT_EQ(r->count(), c.ms);
  }
}

TEST(DurationTest, RejectsInvalidDurations) {
  for (const std::string_view text : {
           "",
           "-5s",
           "-1",
           "+5s",
           "s",
           "ms",
           "5x",
           "5S",
           "5sec",
           "5 s",
           " 5s",
           "5s ",
           "1.5h",
           "5m5s",
           "9223372036854775808",   // one past int64
           "99999999999999999999",  // far past int64
           "9223372036854775807s",  // overflows once scaled
           "106751991168d",
       }) {
    SCOPED_TRACE(text);
    const auto r = parse_duration(text);
    ASSERT_FALSE(r.has_value()) << r->count();
    EXPECT_NE(r.error().message.find("duration"), std::string::npos) << r.error().message;
  }
}

// ---------------------------------------------------------------------------------------------
// Billing schedules

billing_schedule schedule(std::string_view zone, int anchor) {
  auto r = billing_schedule::create(zone, anchor);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r.value();  // throws (a test failure) if create() failed
}

struct period_case {
  std::string_view zone;
  int anchor;
  timestamp t;
  period expected;
  std::string_view why;
};

TEST(BillingScheduleTest, HandComputedPeriods) {
  const period_case cases[] = {
      // Europe/Berlin: CEST (+2) ends 2026-10-25 03:00 -> 02:00; CET (+1) before 2026-03-29.
      {"Europe/Berlin", 1, utc(2026, 10, 15), {utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)},
       "October 2026: 745 hours"},
      {"Europe/Berlin", 1, utc(2026, 3, 15), {utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)},
       "March 2026: 743 hours"},
      {"Europe/Berlin", 1, utc(2026, 9, 30, 22), {utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)},
       "exactly at the start belongs to the new period"},
      {"Europe/Berlin", 1, utc(2026, 9, 30, 21, 59, 59, 999),
       {utc(2026, 8, 31, 22), utc(2026, 9, 30, 22)}, "one ms before belongs to the old period"},
      // UTC: plain calendar months.
      {"UTC", 1, utc(2026, 2, 14), {utc(2026, 2, 1), utc(2026, 3, 1)}, "28-day February"},
      {"UTC", 1, utc(2028, 2, 29, 23, 59, 59, 999), {utc(2028, 2, 1), utc(2028, 3, 1)},
       "29-day February"},
      {"UTC", 1, utc(2026, 11, 30, 23, 59, 59, 999), {utc(2026, 11, 1), utc(2026, 12, 1)},
       "30-day November"},
      {"UTC", 1, utc(2026, 10, 1), {utc(2026, 10, 1), utc(2026, 11, 1)}, "31-day October"},
      {"UTC", 15, utc(2026, 1, 3), {utc(2025, 12, 15), utc(2026, 1, 15)},
       "anchor 15: early January belongs to the period from December"},
      {"Etc/UTC", 28, utc(2026, 3, 1), {utc(2026, 2, 28), utc(2026, 3, 28)}, "anchor 28"},
      // America/New_York: EST (-5) / EDT (-4); DST 2026-03-08 to 2026-11-01.
      {"America/New_York", 1, utc(2026, 3, 20), {utc(2026, 3, 1, 5), utc(2026, 4, 1, 4)},
       "March: starts EST, ends EDT"},
      {"America/New_York", 1, utc(2026, 11, 1, 4), {utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)},
       "November starts at 00:00 EDT"},
      {"America/New_York", 1, utc(2026, 11, 1, 3, 59, 59, 999),
       {utc(2026, 10, 1, 4), utc(2026, 11, 1, 4)}, "Oct 31 23:59:59.999 EDT is still October"},
      {"America/New_York", 1, utc(2026, 11, 1, 6, 30), {utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)},
       "01:30 EST, the second pass of the repeated hour"},
      {"America/New_York", 28, utc(2026, 3, 10), {utc(2026, 2, 28, 5), utc(2026, 3, 28, 4)},
       "anchor 28 across the spring change"},
      {"America/New_York", 28, utc(2026, 3, 28, 3, 59, 59, 999),
       {utc(2026, 2, 28, 5), utc(2026, 3, 28, 4)}, "Mar 27 23:59:59.999 EDT"},
      {"America/New_York", 28, utc(2026, 11, 5), {utc(2026, 10, 28, 4), utc(2026, 11, 28, 5)},
       "anchor 28 across the autumn change"},
      // Asia/Kolkata: +05:30 all year.
      {"Asia/Kolkata", 1, utc(2026, 11, 10), {utc(2026, 10, 31, 18, 30), utc(2026, 11, 30, 18, 30)},
       "November 2026"},
      {"Asia/Kolkata", 1, utc(2026, 10, 31, 18, 30), {utc(2026, 10, 31, 18, 30), utc(2026, 11, 30, 18, 30)},
       "Nov 1 00:00 IST is already November"},
      {"Asia/Kolkata", 1, utc(2026, 10, 31, 18, 29, 59, 999),
       {utc(2026, 9, 30, 18, 30), utc(2026, 10, 31, 18, 30)}, "Oct 31 23:59:59.999 IST"},
      // Australia/Sydney: AEDT (+11) ends 2026-04-05, AEST (+10) until 2026-10-04.
      {"Australia/Sydney", 1, utc(2026, 4, 10), {utc(2026, 3, 31, 13), utc(2026, 4, 30, 14)},
       "April: 721 hours"},
      {"Australia/Sydney", 1, utc(2026, 10, 10), {utc(2026, 9, 30, 14), utc(2026, 10, 31, 13)},
       "October: 743 hours"},
      {"Australia/Sydney", 1, utc(2026, 9, 30, 14), {utc(2026, 9, 30, 14), utc(2026, 10, 31, 13)},
       "Oct 1 00:00 AEST while it is still Sep 30 in UTC"},
      {"Australia/Sydney", 28, utc(2026, 4, 10), {utc(2026, 3, 27, 13), utc(2026, 4, 27, 14)},
       "anchor 28 across the autumn change"},
      {"Australia/Sydney", 28, utc(2026, 10, 10), {utc(2026, 9, 27, 14), utc(2026, 10, 27, 13)},
       "anchor 28 across the spring change"},
      {"Australia/Sydney", 28, utc(2026, 1, 5), {utc(2025, 12, 27, 13), utc(2026, 1, 27, 13)},
       "anchor 28 across the year boundary"},
      // America/Santiago, DST starts at midnight: 2026-09-05 23:59:59 -04 is followed by
      // 2026-09-06 01:00:00 -03 at 04:00Z, so 2026-09-06 00:00 does not exist and resolves to
      // the jump, 04:00Z. The period ends at 2026-10-06 00:00 -03 = 03:00Z.
      {"America/Santiago", 6, utc(2026, 9, 20), {utc(2026, 9, 6, 4), utc(2026, 10, 6, 3)},
       "nonexistent midnight: the instant the clocks jump"},
      {"America/Santiago", 6, utc(2026, 9, 6, 4), {utc(2026, 9, 6, 4), utc(2026, 10, 6, 3)},
       "at the jump"},
      {"America/Santiago", 6, utc(2026, 9, 6, 3, 59, 59, 999),
       {utc(2026, 8, 6, 4), utc(2026, 9, 6, 4)}, "Sep 5 23:59:59.999 -04"},
      // America/Santiago DST ends 2026-04-05 03:00Z: 23:59:59 -03 on Apr 4 becomes 23:00 -04, so
      // the repeated hour is Apr 4 23:00-23:59 and Apr 5 00:00 is NOT ambiguous: it happens once,
      // at -04 = 04:00Z. Mar 5 00:00 is -03 = 03:00Z.
      {"America/Santiago", 5, utc(2026, 4, 5, 3, 30), {utc(2026, 3, 5, 3), utc(2026, 4, 5, 4)},
       "Apr 4 23:30 -04 (second pass) is still the March period"},
      {"America/Santiago", 5, utc(2026, 4, 5, 4), {utc(2026, 4, 5, 4), utc(2026, 5, 5, 4)},
       "Apr 5 00:00 -04"},
      // America/Havana: DST starts 2026-03-08 at midnight (23:59:59 CST -> 01:00 CDT at 05:00Z),
      // so Mar 8 00:00 does not exist; Feb 8 00:00 CST = 05:00Z, Apr 8 00:00 CDT = 04:00Z.
      {"America/Havana", 8, utc(2026, 3, 20), {utc(2026, 3, 8, 5), utc(2026, 4, 8, 4)},
       "nonexistent midnight in Havana"},
      {"America/Havana", 8, utc(2026, 3, 8, 4, 59, 59, 999), {utc(2026, 2, 8, 5), utc(2026, 3, 8, 5)},
       "Mar 7 23:59:59.999 CST"},
      // America/Havana: DST ends 2026-11-01 at 01:00 CDT (05:00Z) back to 00:00 CST, so Nov 1
      // 00:00 happens at 04:00Z (CDT) and again at 05:00Z (CST): the earlier one starts the
      // period. Oct 1 00:00 CDT = 04:00Z, Dec 1 00:00 CST = 05:00Z.
      {"America/Havana", 1, utc(2026, 11, 1, 4), {utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)},
       "ambiguous midnight: the earlier instant"},
      {"America/Havana", 1, utc(2026, 11, 1, 5, 30), {utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)},
       "00:30 CST, second pass of the repeated hour"},
      {"America/Havana", 1, utc(2026, 11, 1, 3, 59, 59, 999),
       {utc(2026, 10, 1, 4), utc(2026, 11, 1, 4)}, "Oct 31 23:59:59.999 CDT"},
      // America/St_Johns 2009: DST ended at 00:01 NDT (-2:30) on Nov 1, back to 23:01 NST (-3:30)
      // on Oct 31, at 02:31Z. Nov 1 00:00 first happens at 02:30Z; one minute later the local
      // date is Oct 31 again, yet the instant is inside the November period (the local date alone
      // would pick October). Dec 1 00:00 NST = 03:30Z, Oct 1 00:00 NDT = 02:30Z.
      {"America/St_Johns", 1, utc(2009, 11, 1, 2, 31), {utc(2009, 11, 1, 2, 30), utc(2009, 12, 1, 3, 30)},
       "local Oct 31 23:01 NST after the November start"},
      {"America/St_Johns", 1, utc(2009, 11, 1, 3, 29, 59, 999),
       {utc(2009, 11, 1, 2, 30), utc(2009, 12, 1, 3, 30)}, "local Oct 31 23:59:59.999 NST"},
      {"America/St_Johns", 1, utc(2009, 11, 1, 2, 29, 59, 999),
       {utc(2009, 10, 1, 2, 30), utc(2009, 11, 1, 2, 30)}, "local Oct 31 23:59:59.999 NDT"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.zone << " anchor " << c.anchor << " at "
                                    << format_utc(c.t) << ": " << c.why);
    const billing_schedule s = schedule(c.zone, c.anchor);
    const period p = s.period_containing(c.t);
    EXPECT_EQ(p, c.expected);
    EXPECT_TRUE(p.contains(c.t));
  }
}

TEST(BillingScheduleTest, PeriodLengthsFollowDst) {
  const auto berlin = schedule("Europe/Berlin", 1);
  const period october = berlin.period_containing(utc(2026, 10, 15));
  EXPECT_EQ(october.end - october.start, hours(745));
  const period march = berlin.period_containing(utc(2026, 3, 15));
  EXPECT_EQ(march.end - march.start, hours(743));
  const auto sydney = schedule("Australia/Sydney", 1);
  const period april = sydney.period_containing(utc(2026, 4, 15));
  EXPECT_EQ(april.end - april.start, hours(721));
}

TEST(BillingScheduleTest, NextChainsAcrossYearBoundary) {
  // Europe/Berlin anchor 15: Nov 15 .. Mar 15 are all CET (+1), so each start is 23:00Z the day
  // before.
  const auto berlin = schedule("Europe/Berlin", 15);
  const timestamp expected_starts[] = {utc(2026, 11, 14, 23), utc(2026, 12, 14, 23),
                                       utc(2027, 1, 14, 23), utc(2027, 2, 14, 23),
                                       utc(2027, 3, 14, 23)};
  period p = berlin.period_containing(utc(2026, 11, 20));
  for (size_t i = 0; i + 1 < std::size(expected_starts); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(p.start, expected_starts[i]);
    EXPECT_EQ(p.end, expected_starts[i + 1]);
    const period n = berlin.next(p);
    EXPECT_EQ(n.start, p.end);
    p = n;
  }

  const auto utc_schedule = schedule("UTC", 1);
  const period dec = utc_schedule.period_containing(utc(2026, 12, 31, 23, 59, 59, 999));
  EXPECT_EQ(dec, (period{utc(2026, 12, 1), utc(2027, 1, 1)}));
  EXPECT_EQ(utc_schedule.next(dec), (period{utc(2027, 1, 1), utc(2027, 2, 1)}));
}

TEST(BillingScheduleTest, PeriodsTileTimeWithoutGapsOrOverlaps) {
  // Invariants rather than values: walk 2009-2027 in steps that drift through every hour of the
  // day, in zones with midnight transitions, half-hour offsets and the southern hemisphere.
  for (const std::string_view zone : {"America/St_Johns", "America/Havana", "America/Santiago",
                                      "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"}) {
    for (const int anchor : {1, 5, 6, 8, 28}) {
      SCOPED_TRACE(testing::Message() << zone << " anchor " << anchor);
      const auto s = schedule(zone, anchor);
      period p = s.period_containing(utc(2009, 1, 1));
      const timestamp stop = utc(2027, 12, 31);
      int failures = 0;
      for (timestamp t = utc(2009, 1, 1); t < stop && failures < 5;
           t = t + hours(7) + millis(60'001)) {
        if (!p.contains(t)) {
          const period n = s.next(p);
          if (n.start != p.end) ++failures;
          EXPECT_EQ(n.start, p.end) << testing::PrintToString(p);
          p = n;
        }
        const period q = s.period_containing(t);
        if (q != p) ++failures;
        EXPECT_EQ(q, p) << format_utc(t);
        EXPECT_GE(p.end - p.start, hours(28 * 24 - 2));
        EXPECT_LE(p.end - p.start, hours(31 * 24 + 2));
      }
    }
  }
}

TEST(BillingScheduleTest, ReportsZoneAndAnchor) {
  const auto r = billing_schedule::create("Europe/Berlin", 7);
  ASSERT_OK(r);
  EXPECT_EQ(r->zone_name(), "Europe/Berlin");
  EXPECT_EQ(r->anchor_day(), 7);
  const billing_schedule copy = *r;
  EXPECT_EQ(copy.zone_name(), "Europe/Berlin");
  EXPECT_EQ(copy.period_containing(utc(2026, 11, 20)), r->period_containing(utc(2026, 11, 20)));
}

TEST(BillingScheduleTest, RejectsUnknownZones) {
  for (const std::string_view zone : {"Mars/Olympus", "", "europe/berlin", "Europe/Berlin ",
                                      "../../etc/passwd"}) {
    SCOPED_TRACE(zone);
    const auto r = billing_schedule::create(zone, 1);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("unknown time zone"), std::string::npos)
        << r.error().message;
  }
}

TEST(BillingScheduleTest, RejectsAnchorDaysOutside1To28) {
  for (const int anchor : {0, 29, 31, -1}) {
    SCOPED_TRACE(anchor);
    const auto r = billing_schedule::create("UTC", anchor);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("anchor_day"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(billing_schedule::create("UTC", 1).has_value());
  EXPECT_TRUE(billing_schedule::create("UTC", 28).has_value());
}

}  // namespace
}  // namespace meterflow
