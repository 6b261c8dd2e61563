// The reference downstream ledger: applies charge and adjustment records the way a consumer of
// the output topics must (SPEC §7) — each id once — and sums amounts per
// tenant|period_start|kind|meter, the key of examples/*/expected.json.
//
// Contract for people writing their own ledger sink: a record is identified by its `id`; apply
// an id at most once and ignore repeats (they carry the same bytes: a replay after a crash);
// charges and adjustments add up by simple addition of `amount`; an adjustment with
// applies_to=next_period belongs to the ledger of the period that follows, but keeps the
// period_start of the period it corrects (that is the key used here).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "topology/decimal.h"

namespace meterflow {

class ledger_totals {
 public:
  // Applies one JSON record. Errors: not a charge/adjustment record, or malformed fields.
  result<void> apply(std::string_view json);

  struct total {
    decimal amount;
    int digits = 0;  // fractional digits of the amounts (the catalog's rounding scale)
  };
  // Non-zero totals by key.
  std::map<std::string, total> totals() const;

  int64_t records() const { return records_; }
  int64_t repeated() const { return repeated_; }
  // Ids seen with two different contents: always a bug upstream.
  const std::vector<std::string>& conflicts() const { return conflicts_; }

  // {"totals": {key: amount}, "records": n, "repeated": n, "conflicts": [ids]}
  std::string to_json() const;

 private:
  std::unordered_map<std::string, uint64_t> seen_;  // id -> content hash
  std::map<std::string, total> totals_;
  int64_t records_ = 0;
  int64_t repeated_ = 0;
  std::vector<std::string> conflicts_;
};

}  // namespace meterflow
