// The running aggregate of a multiset of meter values (SPEC §2 Meters), for one aggregation.
//
// Used at two levels: over the events of a window (or window and group), and over window results
// for meters with a window_aggregation. `latest` keeps the value with the greatest time, ties
// broken by the greater tiebreak string in byte order (the event id; the group key for window
// results). Values are non-negative; sums are checked for overflow.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "topology/catalog.h"
#include "topology/decimal.h"
#include "topology/time.h"

namespace meterflow {

struct aggregate {
  int64_t count = 0;
  decimal value;  // sum, max, min or latest value
  timestamp latest_time{INT64_MIN};
  std::string latest_tiebreak;
  std::unordered_set<std::string> distinct;  // unique_count

  void add(aggregation kind, decimal v, std::string_view text, timestamp t,
           std::string_view tiebreak);
  void merge(aggregation kind, const aggregate& other);
  // The aggregate's quantity; 0 when empty.
  decimal quantity(aggregation kind) const;
  bool empty() const { return count == 0; }
};

}  // namespace meterflow
