// Event time, RFC 3339, durations and monthly billing periods in a tenant's time zone.
//
// All instants are UTC milliseconds since the Unix epoch (`timestamp`). Local time exists only
// inside billing_schedule, which turns an anchor day and an IANA zone into period boundaries.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace date {
class time_zone;
}

namespace meterflow {

// An instant: UTC milliseconds since 1970-01-01T00:00:00Z.
struct timestamp {
  int64_t ms = 0;
  friend constexpr auto operator<=>(timestamp, timestamp) = default;
};
using millis = std::chrono::milliseconds;
constexpr timestamp operator+(timestamp t, millis d) { return {t.ms + d.count()}; }
constexpr timestamp operator-(timestamp t, millis d) { return {t.ms - d.count()}; }
constexpr millis operator-(timestamp a, timestamp b) { return millis(a.ms - b.ms); }

// RFC 3339 date-time with a mandatory offset: "2026-11-03T10:15:00.250+01:00", "...Z" (also
// lowercase 't'/'z'). Fractional seconds optional, any number of digits, truncated to
// milliseconds. Validates ranges (month 1-12, day within month, hour < 24, minute < 60,
// second <= 60 where 60 is accepted only as a leap second and folded to 59.999, offset within
// +-23:59). Errors name the problem ("time has no UTC offset").
result<timestamp> parse_rfc3339(std::string_view text);

// "2026-11-03T09:00:00Z", or "2026-11-03T09:00:00.250Z" when the milliseconds are not zero.
std::string format_utc(timestamp t);
// The same, appended to `out` (no temporary string).
void append_utc(std::string& out, timestamp t);
// The same text written at `p`, which has room for max_utc_text bytes; returns its end.
inline constexpr size_t max_utc_text = 48;
char* write_utc(char* p, timestamp t);

// The quoted text ("\"2026-11-03T09:00:00Z\"") of the last few instants asked for. Charge
// lines repeat their window bounds line after line (every window of a due bucket ends at the
// same instant, most start an hour before it): finding the text here costs less than
// formatting it again.
class quoted_utc_cache {
 public:
  std::string_view get(timestamp t) {
    for (const entry& e : entries_)
      if (e.size != 0 && e.ms == t.ms) return {e.text, e.size};
    entry& e = entries_[next_];
    next_ = (next_ + 1) % entries_.size();
    char* p = e.text;
    *p++ = '"';
    p = write_utc(p, t);
    *p++ = '"';
    e.ms = t.ms;
    e.size = static_cast<size_t>(p - e.text);
    return {e.text, e.size};
  }

 private:
  struct entry {
    int64_t ms = 0;
    size_t size = 0;  // 0: unused
    char text[max_utc_text + 2];
  };
  std::array<entry, 4> entries_{};
  size_t next_ = 0;  // the entry replaced next
};

// A duration flag or property: "300s", "5m", "48h", "250ms", "2d", or a bare integer meaning
// milliseconds ("300000"). Non-negative.
result<millis> parse_duration(std::string_view text);

// [start, end) in UTC.
struct period {
  timestamp start;
  timestamp end;
  friend constexpr bool operator==(const period&, const period&) = default;
  constexpr bool contains(timestamp t) const { return start <= t && t < end; }
};

// A tenant's monthly billing schedule (SPEC §3): periods run from `anchor_day` (1-28) at 00:00
// local time in the zone to the same local time one month later. A local midnight that does not
// exist (DST gap) resolves to the instant the clocks jump to; an ambiguous one to the earlier
// instant. Cheap to copy; thread-safe (the zone data is immutable). A default-constructed
// schedule is only a placeholder: period_containing() on it is an invariant violation (abort).
// Limitation: the OS tz database reader (date 3.0.1, USE_OS_TZDB) ignores the TZif footer rule,
// so after a zone's last listed transition (2037 in Debian's tzdata) the offset stays frozen
// and DST is no longer applied.
class billing_schedule {
 public:
  // Fails for an unknown IANA name or an anchor day outside 1-28.
  static result<billing_schedule> create(std::string_view zone_name, int anchor_day);

  // The period that contains `t`.
  period period_containing(timestamp t) const;
  // The period that starts at `p.end`.
  period next(const period& p) const { return period_containing(p.end); }

  // The IANA name as given to create() (a link such as "Asia/Calcutta" keeps its own name).
  std::string_view zone_name() const;
  int anchor_day() const { return anchor_day_; }

 private:
  const date::time_zone* zone_ = nullptr;
  int anchor_day_ = 1;
};

}  // namespace meterflow
