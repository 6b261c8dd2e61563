// Charge models (SPEC §2). Everything here is exact: products go into `exact` (24 fractional
// digits) and the only rounding is the single step in amount_of, so that incremental charge
// lines (amount after - amount before) always add up to the amount of the final quantity.
#include "topology/pricing.h"

#include <algorithm>

#include "base/assert.h"

namespace meterflow {

namespace {

// a - b for a >= b >= 0: cannot overflow.
decimal difference(decimal a, decimal b) {
  auto d = a.checked_sub(b);
  MF_ASSERT(d.has_value() && !d->is_negative(), "tier units out of range");
  return *d;
}

tier_share share_of(int tier_number, decimal units, decimal unit_price,
                    std::optional<decimal> flat_price) {
  tier_share s;
  s.tier = tier_number;
  s.units = units;
  s.unit_price = unit_price;
  s.flat_price = flat_price;
  s.cost = exact::product(units, unit_price);
  if (flat_price) s.cost = s.cost + exact::from_decimal(*flat_price);
  return s;
}

void add(usage_cost& out, tier_share s) {
  out.total = out.total + s.cost;
  out.breakdown.push_back(std::move(s));
}

// Each unit at the rate of the tier it falls in. A tier is entered when q exceeds the previous
// tier's bound, and entering it charges its flat price once.
void graduated(const charge& c, decimal q, usage_cost& out) {
  decimal previous;  // the previous tier's up_to; 0 before the first tier
  for (size_t i = 0; i < c.tiers.size(); ++i) {
    const tier& t = c.tiers[i];
    if (q <= previous) break;
    const decimal upper = t.up_to ? std::min(q, *t.up_to) : q;
    add(out,
        share_of(static_cast<int>(i + 1), difference(upper, previous), t.unit_price, t.flat_price));
    if (!t.up_to) break;
    previous = *t.up_to;
  }
}

// All units at the rate of the first tier that contains q (q <= up_to, or the unbounded one).
void volume(const charge& c, decimal q, usage_cost& out) {
  if (q.is_zero()) return;  // nothing used, nothing charged: no flat price either
  for (size_t i = 0; i < c.tiers.size(); ++i) {
    const tier& t = c.tiers[i];
    if (!t.up_to || q <= *t.up_to) {
      add(out, share_of(static_cast<int>(i + 1), q, t.unit_price, t.flat_price));
      return;
    }
  }
  MF_ASSERT(false, "volume tiers without an unbounded last tier");
}

}  // namespace

usage_cost cost_of(const charge& c, decimal q) {
  MF_ASSERT(c.type == charge_type::usage, "cost_of on a charge that is not a usage charge");
  MF_ASSERT(!q.is_negative(), "negative quantity");
  usage_cost out;
  switch (c.model) {
    case pricing_model::per_unit:
      if (!q.is_zero()) add(out, share_of(1, q, c.unit_price, std::nullopt));
      break;
    case pricing_model::graduated:
      graduated(c, q, out);
      break;
    case pricing_model::volume:
      volume(c, q, out);
      break;
    case pricing_model::package: {
      const decimal packages = ceil_div(q, c.package_size);
      if (!packages.is_zero()) add(out, share_of(1, packages, c.package_price, std::nullopt));
      break;
    }
  }
  return out;
}

result<decimal> amount_of(const charge& c, decimal q, int scale, rounding_mode mode) {
  return cost_of(c, q).total.round(scale, mode);
}

std::optional<decimal> included_quantity(const charge& c) {
  if (c.type != charge_type::usage) return std::nullopt;
  if (c.model != pricing_model::graduated && c.model != pricing_model::volume) return std::nullopt;
  if (c.tiers.empty()) return std::nullopt;
  return c.tiers.front().up_to;
}

}  // namespace meterflow
