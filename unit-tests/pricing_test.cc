// Charge models (SPEC §2). Every expected value below was computed by hand (shown in the
// comments), never with the code under test: exact costs, rounded amounts and breakdowns.
#include "topology/pricing.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "unit-tests/test_util.h"

namespace meterflow {

static void PrintTo(const decimal& d, std::ostream* os) { *os << d.to_string(); }
static void PrintTo(const exact& e, std::ostream* os) { *os << e.raw() << "e-24"; }

namespace {

decimal dec(std::string_view text) {
  auto d = decimal::parse(text, catalog_limits);
  EXPECT_TRUE(d.has_value()) << "bad decimal in test: " << text;
  return d.value_or(decimal());
}

exact ex(std::string_view text) { return exact::from_decimal(dec(text)); }

tier make_tier(std::optional<std::string_view> up_to, std::string_view unit_price,
               std::optional<std::string_view> flat_price = std::nullopt) {
  tier t;
  if (up_to) t.up_to = dec(*up_to);
  t.unit_price = dec(unit_price);
  if (flat_price) t.flat_price = dec(*flat_price);
  return t;
}

charge usage(pricing_model model) {
  charge c;
  c.type = charge_type::usage;
  c.meter = "m";
  c.model = model;
  return c;
}

charge per_unit(std::string_view unit_price) {
  charge c = usage(pricing_model::per_unit);
  c.unit_price = dec(unit_price);
  return c;
}

charge tiered(pricing_model model, std::vector<tier> tiers) {
  charge c = usage(model);
  c.tiers = std::move(tiers);
  return c;
}

charge package(std::string_view size, std::string_view price) {
  charge c = usage(pricing_model::package);
  c.package_size = dec(size);
  c.package_price = dec(price);
  return c;
}

// SPEC §2 example: 0-100 free, 100-1000 at 0.05, above 1000 at 0.03.
charge spec_graduated() {
  return tiered(pricing_model::graduated, {make_tier("100", "0"), make_tier("1000", "0.05"),
                                           make_tier(std::nullopt, "0.03")});
}

// The hosting example's API calls: all units at 0.0005 up to 100000, 0.0004 up to 500000,
// 0.0003 above.
charge api_volume() {
  return tiered(pricing_model::volume, {make_tier("100000", "0.0005"),
                                        make_tier("500000", "0.0004"),
                                        make_tier(std::nullopt, "0.0003")});
}

struct quantity_case {
  const char* q;
  const char* exact_cost;  // the exact cost, hand-computed
  const char* amount;      // rounded to 2 digits half_even
};

void check_cases(const charge& c, const std::vector<quantity_case>& cases) {
  for (const auto& k : cases) {
    SCOPED_TRACE(std::string("q = ") + k.q);
    EXPECT_EQ(cost_of(c, dec(k.q)).total, ex(k.exact_cost));
    auto amount = amount_of(c, dec(k.q), 2, rounding_mode::half_even);
    ASSERT_OK(amount);
    EXPECT_EQ(*amount, dec(k.amount));
    EXPECT_EQ(amount->to_fixed(2), k.amount);
  }
}

// ---- per_unit ----------------------------------------------------------------------------

TEST(PerUnitTest, UnitPriceTimesQuantity) {
  check_cases(per_unit("0.05"), {
                                    {"0", "0", "0.00"},
                                    {"1", "0.05", "0.05"},
                                    {"12.5", "0.625", "0.62"},            // half-cent, to even
                                    {"0.000000001", "0.00000000005", "0.00"},
                                    {"1000000", "50000", "50000.00"},
                                    {"99.99", "4.9995", "5.00"},           // 99.99 x 5 / 100
                                });
  // 123.456 x 0.00014: 123456 x 14 = 1728384, 9 fractional digits -> 0.01728384.
  check_cases(per_unit("0.00014"), {{"123.456", "0.01728384", "0.02"}});
}

TEST(PerUnitTest, ProductsBeyondTwelveDigitsStayExact) {
  // 0.000000000001 x 0.5 = 5 x 10^-13: more digits than a decimal holds, kept by `exact`.
  const charge c = per_unit("0.000000000001");
  const auto cost = cost_of(c, dec("0.5"));
  EXPECT_EQ(cost.total, exact::product(dec("0.000000000001"), dec("0.5")));
  EXPECT_NE(cost.total, exact());
  EXPECT_LT(cost.total, ex("0.000000000001"));
  auto amount = amount_of(c, dec("0.5"), 12, rounding_mode::half_up);
  ASSERT_OK(amount);
  EXPECT_EQ(*amount, dec("0.000000000001"));  // 0.0000000000005 rounds half up
  auto even = amount_of(c, dec("0.5"), 12, rounding_mode::half_even);
  ASSERT_OK(even);
  EXPECT_EQ(*even, dec("0"));  // ... and half to even (0)
}

TEST(PerUnitTest, Breakdown) {
  const auto cost = cost_of(per_unit("0.05"), dec("12.5"));
  ASSERT_EQ(cost.breakdown.size(), 1u);
  EXPECT_EQ(cost.breakdown[0].tier, 1);
  EXPECT_EQ(cost.breakdown[0].units, dec("12.5"));
  EXPECT_EQ(cost.breakdown[0].unit_price, dec("0.05"));
  EXPECT_FALSE(cost.breakdown[0].flat_price.has_value());
  EXPECT_EQ(cost.breakdown[0].cost, ex("0.625"));
  EXPECT_TRUE(cost_of(per_unit("0.05"), dec("0")).breakdown.empty());
}

// ---- graduated ---------------------------------------------------------------------------

TEST(GraduatedTiersTest, SpecExample) {
  check_cases(spec_graduated(),
              {
                  {"0", "0", "0.00"},
                  {"50", "0", "0.00"},                                // inside the free tier
                  {"100", "0", "0.00"},                               // exactly at up_to
                  {"100.000000001", "0.00000000005", "0.00"},         // 10^-9 x 0.05
                  {"101", "0.05", "0.05"},
                  {"1000", "45", "45.00"},                            // 900 x 0.05
                  {"1000.5", "45.015", "45.02"},                      // + 0.5 x 0.03
                  {"1200", "51", "51.00"},                            // 45 + 200 x 0.03
                  {"2000", "75", "75.00"},                            // 45 + 1000 x 0.03
              });
}

TEST(GraduatedTiersTest, BreakdownAcrossAllTiers) {
  const auto cost = cost_of(spec_graduated(), dec("1200"));
  ASSERT_EQ(cost.breakdown.size(), 3u);
  const struct {
    int tier;
    const char* units;
    const char* unit_price;
    const char* cost;
  } want[] = {{1, "100", "0", "0"}, {2, "900", "0.05", "45"}, {3, "200", "0.03", "6"}};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(cost.breakdown[i].tier, want[i].tier);
    EXPECT_EQ(cost.breakdown[i].units, dec(want[i].units));
    EXPECT_EQ(cost.breakdown[i].unit_price, dec(want[i].unit_price));
    EXPECT_FALSE(cost.breakdown[i].flat_price.has_value());
    EXPECT_EQ(cost.breakdown[i].cost, ex(want[i].cost));
  }
}

TEST(GraduatedTiersTest, BreakdownStopsAtTheQuantity) {
  const auto at_bound = cost_of(spec_graduated(), dec("100"));
  ASSERT_EQ(at_bound.breakdown.size(), 1u);
  EXPECT_EQ(at_bound.breakdown[0].units, dec("100"));

  const auto just_above = cost_of(spec_graduated(), dec("100.000000001"));
  ASSERT_EQ(just_above.breakdown.size(), 2u);
  EXPECT_EQ(just_above.breakdown[1].tier, 2);
  EXPECT_EQ(just_above.breakdown[1].units, dec("0.000000001"));

  EXPECT_TRUE(cost_of(spec_graduated(), dec("0")).breakdown.empty());
}

// Tier 1: up to 10, 5.00 flat; tier 2: up to 100 at 1.00 + 20.00 flat; tier 3: at 0.50.
charge graduated_with_flat_prices() {
  return tiered(pricing_model::graduated,
                {make_tier("10", "0", "5.00"), make_tier("100", "1.00", "20.00"),
                 make_tier(std::nullopt, "0.50")});
}

TEST(GraduatedTiersTest, FlatPriceChargedOnceWhenTheTierIsEntered) {
  check_cases(graduated_with_flat_prices(),
              {
                  {"0", "0", "0.00"},           // no usage: not even tier 1's flat price
                  {"0.5", "5", "5.00"},         // tier 1 entered: 5 flat + 0.5 x 0
                  {"10", "5", "5.00"},          // still tier 1
                  {"10.25", "25.25", "25.25"},  // 5 + 20 flat + 0.25 x 1
                  {"100", "115", "115.00"},     // 5 + 20 + 90 x 1
                  {"150", "140", "140.00"},     // 115 + 50 x 0.5
              });
}

TEST(GraduatedTiersTest, FlatPriceBreakdown) {
  const auto cost = cost_of(graduated_with_flat_prices(), dec("150"));
  ASSERT_EQ(cost.breakdown.size(), 3u);
  EXPECT_EQ(cost.breakdown[0].units, dec("10"));
  EXPECT_EQ(cost.breakdown[0].flat_price, dec("5"));
  EXPECT_EQ(cost.breakdown[0].cost, ex("5"));
  EXPECT_EQ(cost.breakdown[1].units, dec("90"));
  EXPECT_EQ(cost.breakdown[1].flat_price, dec("20"));
  EXPECT_EQ(cost.breakdown[1].cost, ex("110"));  // 90 x 1 + 20
  EXPECT_EQ(cost.breakdown[2].units, dec("50"));
  EXPECT_FALSE(cost.breakdown[2].flat_price.has_value());
  EXPECT_EQ(cost.breakdown[2].cost, ex("25"));

  // A quantity inside tier 1 charges only tier 1's flat price.
  const auto small = cost_of(graduated_with_flat_prices(), dec("0.5"));
  ASSERT_EQ(small.breakdown.size(), 1u);
  EXPECT_EQ(small.breakdown[0].tier, 1);
  EXPECT_EQ(small.breakdown[0].units, dec("0.5"));
  EXPECT_EQ(small.breakdown[0].flat_price, dec("5"));
  EXPECT_EQ(small.breakdown[0].cost, ex("5"));
}

TEST(GraduatedTiersTest, SingleUnboundedTier) {
  check_cases(tiered(pricing_model::graduated, {make_tier(std::nullopt, "0.1", "1")}),
              {{"0", "0", "0.00"}, {"3", "1.3", "1.30"}});  // 1 flat + 3 x 0.1
}

// ---- volume ------------------------------------------------------------------------------

TEST(VolumeTiersTest, AllUnitsAtTheTierThatContainsTheQuantity) {
  check_cases(api_volume(),
              {
                  {"0", "0", "0.00"},
                  {"1", "0.0005", "0.00"},                 // a twentieth of a cent: rounds down
                  {"100000", "50", "50.00"},               // exactly at up_to: tier 1
                  {"100001", "40.0004", "40.00"},          // just above: all at 0.0004
                  {"120001", "48.0004", "48.00"},
                  {"500000", "200", "200.00"},
                  {"500001", "150.0003", "150.00"},        // all at 0.0003
                  {"1000000", "300", "300.00"},
              });
}

TEST(VolumeTiersTest, Breakdown) {
  const auto cost = cost_of(api_volume(), dec("120001"));
  ASSERT_EQ(cost.breakdown.size(), 1u);
  EXPECT_EQ(cost.breakdown[0].tier, 2);
  EXPECT_EQ(cost.breakdown[0].units, dec("120001"));
  EXPECT_EQ(cost.breakdown[0].unit_price, dec("0.0004"));
  EXPECT_EQ(cost.breakdown[0].cost, ex("48.0004"));
  EXPECT_TRUE(cost_of(api_volume(), dec("0")).breakdown.empty());
}

TEST(VolumeTiersTest, FlatPrices) {
  // Up to 10: 50.00 flat; above: 4 per unit + 10.00 flat.
  const charge c = tiered(pricing_model::volume,
                          {make_tier("10", "0", "50.00"), make_tier(std::nullopt, "4", "10.00")});
  check_cases(c, {
                     {"0", "0", "0.00"},       // q = 0 costs 0, no flat price
                     {"3", "50", "50.00"},
                     {"10", "50", "50.00"},
                     {"10.5", "52", "52.00"},  // 10.5 x 4 + 10
                     {"11", "54", "54.00"},    // 11 x 4 + 10
                 });
  const auto cost = cost_of(c, dec("11"));
  ASSERT_EQ(cost.breakdown.size(), 1u);
  EXPECT_EQ(cost.breakdown[0].tier, 2);
  EXPECT_EQ(cost.breakdown[0].flat_price, dec("10"));
  EXPECT_EQ(cost.breakdown[0].cost, ex("54"));
}

// ---- package -----------------------------------------------------------------------------

TEST(PackageTest, StartedPackagesCountInFull) {
  check_cases(package("10", "25.00"), {
                                          {"0", "0", "0.00"},
                                          {"0.5", "25", "25.00"},
                                          {"1", "25", "25.00"},
                                          {"10", "25", "25.00"},
                                          {"11", "50", "50.00"},  // 11 users, packs of 10
                                          {"20", "50", "50.00"},
                                          {"21", "75", "75.00"},
                                      });
  check_cases(package("2.5", "1.00"), {
                                          {"5", "2", "2.00"},
                                          {"5.000000001", "3", "3.00"},
                                      });
}

TEST(PackageTest, BreakdownCountsPackages) {
  const auto cost = cost_of(package("10", "25.00"), dec("11"));
  ASSERT_EQ(cost.breakdown.size(), 1u);
  EXPECT_EQ(cost.breakdown[0].tier, 1);
  EXPECT_EQ(cost.breakdown[0].units, dec("2"));
  EXPECT_EQ(cost.breakdown[0].unit_price, dec("25"));
  EXPECT_FALSE(cost.breakdown[0].flat_price.has_value());
  EXPECT_EQ(cost.breakdown[0].cost, ex("50"));
  EXPECT_TRUE(cost_of(package("10", "25.00"), dec("0")).breakdown.empty());
}

// ---- rounding ----------------------------------------------------------------------------

struct rounding_case {
  const char* name;
  charge c;
  const char* q;
  int scale;
  const char* half_even;
  const char* half_up;
};

TEST(PricingRoundingTest, BothModes) {
  const charge graduated_free_100 = tiered(
      pricing_model::graduated, {make_tier("100", "0"), make_tier(std::nullopt, "0.05")});
  const charge volume_small = tiered(pricing_model::volume,
                                     {make_tier("10", "1"), make_tier(std::nullopt, "0.05")});
  const rounding_case cases[] = {
      {"per_unit 0.05 x 12.5 = 0.625", per_unit("0.05"), "12.5", 2, "0.62", "0.63"},
      {"per_unit 0.05 x 12.7 = 0.635", per_unit("0.05"), "12.7", 2, "0.64", "0.64"},
      {"per_unit 0.05 x 12.3 = 0.615", per_unit("0.05"), "12.3", 2, "0.62", "0.62"},
      {"per_unit 0.05 x 12.6 = 0.63", per_unit("0.05"), "12.6", 2, "0.63", "0.63"},
      {"per_unit 1 x 2.5, scale 0", per_unit("1"), "2.5", 0, "2", "3"},
      {"per_unit 1 x 3.5, scale 0", per_unit("1"), "3.5", 0, "4", "4"},
      {"per_unit 0.001 x 0.25 = 0.00025, scale 4", per_unit("0.001"), "0.25", 4, "0.0002",
       "0.0003"},
      {"graduated 12.5 x 0.05 above 100", graduated_free_100, "112.5", 2, "0.62", "0.63"},
      {"volume 12.5 x 0.05", volume_small, "12.5", 2, "0.62", "0.63"},
      {"package 0.125 x 1", package("1", "0.125"), "1", 2, "0.12", "0.13"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    auto even = amount_of(k.c, dec(k.q), k.scale, rounding_mode::half_even);
    auto up = amount_of(k.c, dec(k.q), k.scale, rounding_mode::half_up);
    ASSERT_OK(even);
    ASSERT_OK(up);
    EXPECT_EQ(*even, dec(k.half_even));
    EXPECT_EQ(*up, dec(k.half_up));
  }
}

// Incremental lines are differences of rounded amounts: they add up to the final amount.
TEST(PricingRoundingTest, IncrementsSumToTheFinalAmount) {
  const charge c = spec_graduated();
  const char* steps[] = {"0", "50", "100.3", "333.33", "999.99", "1000.01", "1200", "1200.5"};
  decimal before;
  decimal sum;
  for (const char* q : steps) {
    auto after = amount_of(c, dec(q), 2, rounding_mode::half_even);
    ASSERT_OK(after);
    sum = *sum.checked_add(*after->checked_sub(before));
    before = *after;
  }
  // 45 + 200.5 x 0.03 = 45 + 6.015 = 51.015 -> 51.02 (half to even: 1 is odd).
  EXPECT_EQ(before, dec("51.02"));
  EXPECT_EQ(sum, before);
}

// ---- included quantity -------------------------------------------------------------------

TEST(PricingIncludedQuantityTest, FirstTierBound) {
  EXPECT_EQ(included_quantity(spec_graduated()), dec("100"));
  EXPECT_EQ(included_quantity(api_volume()), dec("100000"));
  EXPECT_FALSE(included_quantity(per_unit("0.05")).has_value());
  EXPECT_FALSE(included_quantity(package("10", "25")).has_value());
  EXPECT_FALSE(
      included_quantity(tiered(pricing_model::graduated, {make_tier(std::nullopt, "0.05")}))
          .has_value());
}

}  // namespace
}  // namespace meterflow
