// The benchmark workload (docs/performance.md, "The workload"): a pricing catalog, one
// subscription per tenant and CloudEvents meter events, written deterministically (same options,
// same bytes). Used by meterflow-gen and `meterflow bench`.
//
// DIR/catalog.json        5 meters (count, sum+filter, unique_count, max with window_aggregation
//                         and group_by, latest) and 3 plans (graduated, volume, per_unit, package,
//                         recurring, minimum; one plan with two versions).
// DIR/subscriptions.jsonl one record per tenant from 2026-01-01T00:00:00Z; timezones UTC,
//                         Europe/Berlin, America/New_York; anchor days 1 and 15.
// DIR/events.jsonl        CloudEvents lines (~225 bytes) whose times advance monotonically from
//                         2026-03-01 over `hours` (default: to 2026-09-01, 4,416 h: about one
//                         charge line per event, the worst case; 24 h is a dense day of usage:
//                         many events per window) over all tenants (skewed: half the events
//                         uniform, half favouring low tenant numbers). `dup_bp` of the lines are
//                         exact re-sends of one of the last 4,096 lines written within the last
//                         hour of stream time; `late_bp` are fresh events 1-3 h behind the stream
//                         time (late: their windows have closed, within the settlement window).
//
// No floating point anywhere: shares are basis points, quantities are written as decimal text.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "base/result.h"

namespace meterflow::workload {

struct workload_options {
  // Event lines to write. Default: 2,000,000.
  int64_t events = 2'000'000;
  // Tenants, one subscription each; 1 to 99,999,999. Default: 1,000.
  int64_t tenants = 1'000;
  // Seed of every random choice. Default: 42.
  uint64_t seed = 42;
  // Lines that re-send a recent line, in basis points (1 % = 100). Default: 100.
  int64_t dup_bp = 100;
  // Lines that are late events, in basis points. Default: 50.
  int64_t late_bp = 50;
  // Hours of event time from 2026-03-01; 0: up to 2026-09-01 (six sparse months). Default: 0.
  int64_t hours = 0;

  result<void> validate() const;
};

// What write() generated.
struct workload_counts {
  int64_t events = 0;
  int64_t duplicates = 0;
  int64_t late = 0;
  // api_request, transfer, login, storage_sample, seat_count
  std::array<int64_t, 5> by_type{};
};

// Writes catalog.json, subscriptions.jsonl and events.jsonl into `dir` (created if missing).
// Errors: invalid options, a file that cannot be created or written.
result<workload_counts> write(const workload_options& options, const std::filesystem::path& dir);

// "12", "0.5", "1.25" -> basis points (1 % = 100): at most two fractional digits, 0 to 100 %.
result<int64_t> parse_percent_bp(std::string_view text);

}  // namespace meterflow::workload
