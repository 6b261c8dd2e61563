// The pricing catalog (SPEC §2): meters, plans, effective-dated versions and their charges.
//
// Loaded from JSON and validated completely before use: a catalog that loads is one the rating
// engine can apply without further checks. Every load error names the JSON path of the
// offending value ("plans[0].versions[0].charges[1].tiers[2].up_to: tiers must ascend").
// Immutable after load; share it as std::shared_ptr<const catalog> (reload = swap the pointer).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "topology/decimal.h"
#include "topology/time.h"

namespace meterflow {

enum class aggregation { count, sum, max, min, latest, unique_count };
std::string_view to_string(aggregation a);

struct meter_filter {
  std::string pointer;  // JSON Pointer (RFC 6901) from the event root, e.g. "/data/direction"
  std::string value;    // the exact string the pointer must hold
};

struct meter_group {
  std::string name;     // output name, e.g. "volume"
  std::string pointer;  // JSON Pointer from the event root
};

struct meter {
  std::string key;
  std::string event_type;
  aggregation agg = aggregation::count;
  std::string value_pointer;  // empty only for agg == count
  std::vector<meter_filter> filters;
  std::optional<aggregation> window_agg;  // sum, max, min, latest or count
  std::vector<meter_group> group_by;
};

enum class charge_type { recurring, usage, minimum };
enum class pricing_model { per_unit, graduated, volume, package };
std::string_view to_string(charge_type t);
std::string_view to_string(pricing_model m);

struct tier {
  std::optional<decimal> up_to;  // nullopt = unbounded (only the last tier)
  decimal unit_price;            // "0" when absent
  std::optional<decimal> flat_price;
};

struct charge {
  charge_type type = charge_type::usage;
  // recurring / minimum: the amount per full billing period.
  decimal amount;
  // usage:
  std::string meter;         // meter key
  uint32_t meter_index = 0;  // index into catalog::meters
  pricing_model model = pricing_model::per_unit;
  decimal unit_price;        // per_unit
  std::vector<tier> tiers;   // graduated, volume: ascending up_to, last one unbounded
  decimal package_size;      // package: > 0
  decimal package_price;     // package
  std::vector<decimal> alerts;  // percents of the included amount (first tier's up_to)
};

struct plan_version {
  timestamp effective_from;
  std::vector<charge> charges;
};

struct plan {
  std::string key;
  std::string currency;                // ISO 4217, three upper-case letters
  std::vector<plan_version> versions;  // ascending effective_from, no two equal
  // The latest version whose effective_from <= t, or nullptr if t precedes them all.
  const plan_version* version_at(timestamp t) const;
};

struct catalog {
  int rounding_scale = 2;  // 0..12
  rounding_mode rounding = rounding_mode::half_even;
  std::vector<meter> meters;
  std::vector<plan> plans;

  // Parses and validates; the whole document or nothing.
  static result<catalog> parse(std::string_view json);
  // Reads the file then parse(); errors are prefixed with the path.
  static result<catalog> load_file(const std::string& path);

  const plan* find_plan(std::string_view key) const;
  // Indices into `meters` of the meters whose event_type is `type` (empty span if none).
  std::span<const uint32_t> meters_for_type(std::string_view type) const;

 private:
  // Heterogeneous lookup: find by string_view without building a std::string per event.
  struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

  void build_indexes();
  string_map<std::vector<uint32_t>> meters_by_type_;
  string_map<uint32_t> plan_by_key_;
};

// Human-readable summary of what each plan charges, for `meterflow check-catalog`.
std::string describe(const catalog& c);

}  // namespace meterflow
