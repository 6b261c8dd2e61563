// Charge models (SPEC §2): the exact cost of a usage quantity, and its rounded amount.
//
// Pure functions of (charge, quantity). The incremental rating of the engine builds on them:
// a charge line is amount(Q after) - amount(Q before).
#pragma once

#include <vector>

#include "topology/catalog.h"
#include "topology/decimal.h"

namespace meterflow {

// One tier's share of a quantity, for the `breakdown` of a charge line.
struct tier_share {
  int tier = 1;               // 1-based tier number (1 for per_unit and package)
  decimal units;              // units priced in this tier (packages for the package model)
  decimal unit_price;         // price per unit (package_price for the package model)
  std::optional<decimal> flat_price;  // the tier's flat price, when charged
  exact cost;                 // units x unit_price + flat price, exact
};

struct usage_cost {
  exact total;                       // exact cost of the quantity
  std::vector<tier_share> breakdown; // tiers with units > 0 or a charged flat price
};

// Exact cost of quantity q (q >= 0) under a usage charge:
//   per_unit:  unit_price x q
//   graduated: each unit at the rate of the tier it falls in; a tier's flat_price once when
//              q > the previous tier's up_to (0 before the first tier)
//   volume:    all q units at the unit_price of the first tier with q <= up_to, plus its
//              flat_price; q = 0 costs 0
//   package:   package_price x ceil(q / package_size)
usage_cost cost_of(const charge& c, decimal q);

// round(cost_of(c, q).total) at the catalog's scale and mode.
result<decimal> amount_of(const charge& c, decimal q, int scale, rounding_mode mode);

// The included amount that alert percentages refer to: the first tier's up_to
// (nullopt for models without tiers or an unbounded first tier).
std::optional<decimal> included_quantity(const charge& c);

}  // namespace meterflow
