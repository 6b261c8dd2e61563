// The running aggregate of a multiset of meter values (SPEC §2 Meters), for one aggregation.
//
// Used at two levels: over the events of a window (or window and group), and over window results
// for meters with a window_aggregation. `latest` keeps the value with the greatest time, ties
// broken by the greater tiebreak string in byte order (the event id; the group key for window
// results). Values are non-negative; sums are checked for overflow.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <absl/container/node_hash_set.h>

#include "topology/catalog.h"
#include "topology/decimal.h"
#include "topology/time.h"

namespace meterflow {

struct aggregate {
  // A unique_count's members. Nodes stay put (meter_progress::unsaved_members points at them,
  // merges move them between sets); iteration order is not fixed from one process to the next
  // (absl seeds its hash per process), so whatever is written out is sorted first.
  using member_set = absl::node_hash_set<std::string>;

  int64_t count = 0;
  decimal value;  // sum, max, min or latest value
  // What latest and unique_count keep besides, allocated on first use: most aggregates are of
  // other kinds (a segment keeps one per window result, ~1 M on a dense day with 10,000
  // tenants), and held inline the two take 96 bytes of each. Both null: latest_time() is
  // INT64_MIN, latest_tiebreak() empty, no members.
  struct latest_key {
    timestamp time{INT64_MIN};
    std::string tiebreak;
  };
  std::unique_ptr<latest_key> latest;
  std::unique_ptr<member_set> distinct;

  timestamp latest_time() const { return latest ? latest->time : timestamp{INT64_MIN}; }
  std::string_view latest_tiebreak() const {
    return latest ? std::string_view(latest->tiebreak) : std::string_view();
  }
  latest_key& latest_value() {  // created on first use
    if (!latest) latest = std::make_unique<latest_key>();
    return *latest;
  }

  // The members of a unique_count (created empty on first use).
  member_set& members() {
    if (!distinct) distinct = std::make_unique<member_set>();
    return *distinct;
  }
  size_t member_count() const { return distinct ? distinct->size() : 0; }

  void add(aggregation kind, decimal v, std::string_view text, timestamp t,
           std::string_view tiebreak);
  void merge(aggregation kind, const aggregate& other);
  // The aggregate's quantity; 0 when empty.
  decimal quantity(aggregation kind) const;
  bool empty() const { return count == 0; }
};

}  // namespace meterflow
