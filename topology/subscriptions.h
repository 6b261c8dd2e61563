// Subscriptions (SPEC §3): which tenant is on which plan, when, and its billing schedule.
//
// subscription_book holds every tenant's full plan history (re-rating old periods needs it)
// and answers "which segment of which period is this tenant in at time t".
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "base/result.h"
#include "topology/time.h"

namespace meterflow {

struct subscription_record {
  std::string tenant;
  std::optional<std::string> plan;  // nullopt cancels from `start`
  timestamp start;
  std::optional<std::string> timezone;  // IANA name; only the tenant's first record counts
  std::optional<int> anchor_day;        // 1-28; only the tenant's first record counts
};

// Parses one JSON subscription record. Errors are human sentences.
result<subscription_record> parse_subscription(std::string_view json);

// A stretch of a billing period on one plan: [start, end), cut at subscription records.
struct segment {
  period billing_period;
  timestamp start;
  timestamp end;
  std::string_view plan;  // the plan key (owned by the book)
  friend bool operator==(const segment&, const segment&) = default;
};

class subscription_book {
 public:
  struct entry {
    timestamp start;
    std::optional<std::string> plan;
  };
  struct tenant {
    std::string name;
    uint64_t order = 0;  // a stable hash of the name: a cheap, run-independent sort key
    billing_schedule schedule;
    std::vector<entry> entries;  // ascending start; a later record with the same start replaces
    size_t index = 0;  // its position in tenants(): a dense number for per-tenant tables
  };

  // Adds a record. Returns a warning sentence when part of it is ignored (a later record's
  // timezone or anchor day), an error when it cannot apply (bad zone on a first record).
  result<std::optional<std::string>> apply(const subscription_record& r);

  const tenant* find(std::string_view name) const;
  // The tenant and its index, or {nullptr, 0}. The index is read from the look-up's own table
  // entry, not from the tenant: per-tenant tables indexed by it cost no extra cache miss.
  struct found {
    const tenant* t = nullptr;
    size_t index = 0;
  };
  found find_with_index(std::string_view name) const;
  const std::vector<const tenant*>& tenants() const { return order_; }

  // The active segment containing t, or nullopt (before the first record, or cancelled).
  static std::optional<segment> segment_at(const tenant& t, timestamp at);
  // The first active segment starting at or after `from` (for charging recurring fees of
  // periods without events), or nullopt if the tenant has none.
  static std::optional<segment> next_segment_from(const tenant& t, timestamp from);

 private:
  struct entry_of_name {
    std::unique_ptr<tenant> t;
    size_t index = 0;  // t->index
  };
  absl::flat_hash_map<std::string, entry_of_name> tenants_;  // string_view lookups
  std::vector<const tenant*> order_;  // in order of first appearance
};

}  // namespace meterflow
