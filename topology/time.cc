#include "topology/time.h"

#include <date/tz.h>

#include <array>
#include <charconv>
#include <exception>
#include <string>

#include "base/assert.h"

namespace meterflow {
namespace {

constexpr int64_t ms_per_second = 1000;
constexpr int64_t ms_per_day = 86'400'000;

// Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
// Pure integer arithmetic so the per-event parser never touches the tz database.
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct civil_date {
  int64_t year;
  unsigned month;
  unsigned day;
};

// The inverse (civil_from_days).
constexpr civil_date civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).year == 2000 && civil_from_days(11017).month == 3);

constexpr bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned days_in_month(int64_t y, unsigned m) {
  constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

constexpr int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads `n` digits at `p`; false if any of them is not a digit. The caller checked the length.
constexpr bool read_digits(const char* p, int n, int& out) {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (!is_digit(p[i])) return false;
    v = v * 10 + (p[i] - '0');
  }
  out = v;
  return true;
}

// Error sentences quote the input; an absurdly long value is cut so logs stay readable.
std::string quoted(std::string_view text) {
  constexpr size_t max_quoted = 64;
  std::string q = "\"";
  if (text.size() > max_quoted) {
    q.append(text.substr(0, max_quoted));
    q.append("...");
  } else {
    q.append(text);
  }
  q.push_back('"');
  return q;
}

std::unexpected<error> not_rfc3339(std::string_view text) {
  return fail("time ", quoted(text), " is not RFC 3339");
}

std::unexpected<error> out_of_range(std::string_view text, std::string_view what) {
  return fail("time ", quoted(text), " is not RFC 3339: ", what);
}

}  // namespace

// Layout: YYYY-MM-DDTHH:MM:SS[.f+](Z|+HH:MM|-HH:MM). Fixed positions up to the seconds, so the
// parser is a handful of compares and multiplies; it never allocates unless it fails.
result<timestamp> parse_rfc3339(std::string_view text) {
  constexpr size_t seconds_end = 19;  // "YYYY-MM-DDTHH:MM:SS"
  const char* s = text.data();
  const size_t n = text.size();

  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (n < seconds_end || !read_digits(s, 4, year) || s[4] != '-' || !read_digits(s + 5, 2, month) ||
      s[7] != '-' || !read_digits(s + 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !read_digits(s + 11, 2, hour) || s[13] != ':' || !read_digits(s + 14, 2, minute) ||
      s[16] != ':' || !read_digits(s + 17, 2, second)) {
    return not_rfc3339(text);
  }

  size_t i = seconds_end;
  int millis = 0;
  if (i < n && s[i] == '.') {
    ++i;
    const size_t digits_begin = i;
    // Truncate, do not round: ".2509" is 250 ms, and no digit past the third can carry.
    for (; i < n && is_digit(s[i]); ++i) {
      if (i - digits_begin < 3) millis = millis * 10 + (s[i] - '0');
    }
    const size_t digits = i - digits_begin;
    if (digits == 0) return not_rfc3339(text);
    for (size_t k = digits; k < 3; ++k) millis *= 10;
  }

  if (i == n) return fail("time has no UTC offset: ", quoted(text));
  int offset_minutes = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int oh = 0, om = 0;
    if (n - i < 6 || !read_digits(s + i + 1, 2, oh) || s[i + 3] != ':' ||
        !read_digits(s + i + 4, 2, om)) {
      return not_rfc3339(text);
    }
    if (oh > 23 || om > 59) return out_of_range(text, "the UTC offset is beyond +-23:59");
    offset_minutes = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return not_rfc3339(text);
  }
  if (i != n) return not_rfc3339(text);

  if (month < 1 || month > 12) return out_of_range(text, "the month is not 01-12");
  if (day < 1 || static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month))) {
    return out_of_range(text, "the day does not exist in that month");
  }
  if (hour > 23) return out_of_range(text, "the hour is not 00-23");
  if (minute > 59) return out_of_range(text, "the minute is not 00-59");
  if (second > 60) return out_of_range(text, "the second is not 00-60");
  if (second == 60) {
    // A leap second is inserted at the end of a UTC day: only 23:59:60 in UTC terms is one.
    // We cannot represent it, so it folds onto the last millisecond before it.
    const int utc_minute_of_day = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
    if (utc_minute_of_day != 1439) {
      return out_of_range(text, "second 60 is only valid as a leap second (23:59:60 UTC)");
    }
    second = 59;
    millis = 999;
  }

  const int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds_of_day = (hour * 60 + minute) * 60 + second - offset_minutes * 60;
  return timestamp{(days * 86'400 + seconds_of_day) * ms_per_second + millis};
}

char* write_utc(char* p, timestamp t) {
  const int64_t days = floor_div(t.ms, ms_per_day);
  // Remainder, not t.ms - days * ms_per_day, which overflows near the int64 minimum.
  const int64_t ms_of_day = (t.ms % ms_per_day + ms_per_day) % ms_per_day;
  const civil_date date = civil_from_days(days);

  // Longest: "-292277026596-12-04T15:30:07.808Z" (int64 milliseconds span that far).
  char* const end = p + max_utc_text;
  int64_t year = date.year;
  if (year < 0) {
    *p++ = '-';
    year = -year;
  }
  if (year < 1000) {
    // Zero-pad to four digits.
    for (int64_t pow = 1000; pow > year && pow > 1; pow /= 10) *p++ = '0';
  }
  p = std::to_chars(p, end, year).ptr;
  const auto two = [&p](int64_t v) {
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  *p++ = '-';
  two(date.month);
  *p++ = '-';
  two(date.day);
  *p++ = 'T';
  two(ms_of_day / 3'600'000);
  *p++ = ':';
  two(ms_of_day / 60'000 % 60);
  *p++ = ':';
  two(ms_of_day / 1000 % 60);
  if (const int64_t ms = ms_of_day % 1000; ms != 0) {
    *p++ = '.';
    *p++ = static_cast<char>('0' + ms / 100);
    two(ms % 100);
  }
  *p++ = 'Z';
  return p;
}

void append_utc(std::string& out, timestamp t) {
  char buf[max_utc_text];
  out.append(buf, write_utc(buf, t));
}

std::string format_utc(timestamp t) {
  std::string out;
  append_utc(out, t);
  return out;
}

result<millis> parse_duration(std::string_view text) {
  const auto bad = [text] {
    return fail("duration ", quoted(text),
                " is not a non-negative integer with an optional unit (ms, s, m, h, d)");
  };
  size_t i = 0;
  int64_t value = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, text[i] - '0', &value)) {
      return fail("duration ", quoted(text), " is too large");
    }
  }
  if (i == 0) return bad();

  const std::string_view unit = text.substr(i);
  int64_t scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else {
    return bad();
  }
  int64_t ms = 0;
  if (__builtin_mul_overflow(value, scale, &ms)) {
    return fail("duration ", quoted(text), " is too large");
  }
  return millis(ms);
}

result<billing_schedule> billing_schedule::create(std::string_view zone_name, int anchor_day) {
  if (anchor_day < 1 || anchor_day > 28) {
    return fail("billing schedule: anchor_day ", std::to_string(anchor_day),
                " is outside 1-28 (every month must have it)");
  }
  billing_schedule schedule;
  try {
    // date throws std::runtime_error for an unknown name (and if the tz database itself cannot
    // be read); this module promises results, so nothing escapes.
    schedule.zone_ = date::locate_zone(std::string(zone_name));
  } catch (const std::exception&) {
    return fail("billing schedule: unknown time zone ", quoted(zone_name),
                " (expected an IANA name such as \"Europe/Berlin\")");
  }
  schedule.anchor_day_ = anchor_day;
  return schedule;
}

namespace {

// UTC instant (ms) of local 00:00 on `day`/`month0+1`/`year` in `zone`. `month0` counts months
// from year 0 so callers can step across year boundaries with +-1.
int64_t resolve_local_midnight(const date::time_zone& zone, int64_t month0, unsigned day) {
  const int64_t year = floor_div(month0, 12);
  const auto month = static_cast<unsigned>(month0 - year * 12) + 1;
  const date::local_seconds local{
      std::chrono::seconds(days_from_civil(year, month, day) * 86'400)};
  const date::local_info info = zone.get_info(local);
  std::chrono::seconds utc{};
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:
      // Ambiguous: `first` is the offset in force before the clocks went back, i.e. the earlier
      // of the two instants that read this local time.
      utc = local.time_since_epoch() - info.first.offset;
      break;
    case date::local_info::nonexistent:
      // In a gap: the instant the clocks jump, which is where the later offset begins.
      utc = info.second.begin.time_since_epoch();
      break;
  }
  return utc.count() * ms_per_second;
}

}  // namespace

period billing_schedule::period_containing(timestamp t) const {
  MF_ASSERT(zone_ != nullptr, "billing_schedule used without create()");
  const date::sys_seconds sys{std::chrono::seconds(floor_div(t.ms, ms_per_second))};
  const auto offset = zone_->get_info(sys).offset;
  const civil_date local =
      civil_from_days(floor_div(sys.time_since_epoch().count() + offset.count(), 86'400));

  // First guess from the local calendar date; then check against the resolved instants. The
  // guess is off by one month when t falls between a resolved boundary and the local date that
  // names it (e.g. after an ambiguous midnight the clocks may go back into the previous day).
  const auto anchor = static_cast<unsigned>(anchor_day_);
  int64_t month0 = local.year * 12 + (local.month - 1) - (local.day < anchor ? 1 : 0);
  int64_t start = resolve_local_midnight(*zone_, month0, anchor);
  int64_t end = 0;
  if (t.ms < start) {
    end = start;
    start = resolve_local_midnight(*zone_, --month0, anchor);
  } else {
    end = resolve_local_midnight(*zone_, month0 + 1, anchor);
  }
  // A month is never shorter than a few weeks, so at most one more step is ever needed; the loops
  // only make that obviously true.
  while (t.ms < start) {
    end = start;
    start = resolve_local_midnight(*zone_, --month0, anchor);
  }
  while (t.ms >= end) {
    start = end;
    end = resolve_local_midnight(*zone_, ++month0 + 1, anchor);
  }
  return period{{start}, {end}};
}

std::string_view billing_schedule::zone_name() const {
  return zone_ != nullptr ? std::string_view(zone_->name()) : std::string_view();
}

}  // namespace meterflow
