// Catalog loading and validation (SPEC §2): the examples load with the values they spell, and
// every validation rule fails the load with a message naming the JSON path of the culprit.
#include "topology/catalog.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "unit-tests/test_util.h"

namespace meterflow {

// Readable failures: "12.5", not the bytes of a 128-bit integer.
static void PrintTo(const decimal& d, std::ostream* os) { *os << d.to_string(); }
static void PrintTo(timestamp t, std::ostream* os) { *os << t.ms << " ms"; }

namespace {

decimal dec(std::string_view text) {
  auto d = decimal::parse(text, catalog_limits);
  EXPECT_TRUE(d.has_value()) << "bad decimal in test: " << text;
  return d.value_or(decimal());
}

// 2026-01-01T00:00:00Z: 56 years after 1970 with 14 leap days (1972..2024) = 20454 days.
constexpr timestamp jan_1_2026{20454LL * 86'400'000};
// 2026-07-01T00:00:00Z: + 31+28+31+30+31+30 = 181 days.
constexpr timestamp jul_1_2026{(20454LL + 181) * 86'400'000};

// The example of SPEC §2, verbatim.
constexpr std::string_view spec_example = R"({
  "rounding": {"scale": 2, "mode": "half_even"},
  "meters": [
    {"key": "api_calls",  "event_type": "api_request", "aggregation": "count"},
    {"key": "egress_gb",  "event_type": "transfer",    "aggregation": "sum", "value": "/data/gb",
     "filter": {"/data/direction": "out"}},
    {"key": "active_users","event_type": "login",      "aggregation": "unique_count", "value": "/data/user"},
    {"key": "peak_vcpu",  "event_type": "vm_sample",   "aggregation": "max", "value": "/data/vcpu"},
    {"key": "seats",      "event_type": "seat_count",  "aggregation": "latest", "value": "/data/seats"},
    {"key": "storage_gb_hours", "event_type": "storage_sample", "aggregation": "sum",
     "window_aggregation": "max", "group_by": {"volume": "/data/volume_id"}, "value": "/data/gb"}
  ],
  "plans": [
    {"key": "pro", "currency": "EUR", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [
        {"type": "recurring", "amount": "49.99"},
        {"type": "usage", "meter": "egress_gb", "model": "graduated", "tiers": [
          {"up_to": "100", "unit_price": "0"},
          {"up_to": "1000", "unit_price": "0.05"},
          {"up_to": null, "unit_price": "0.03"}]},
        {"type": "minimum", "amount": "100.00"}
      ]}
    ]}
  ]
})";

// The repository's copy of an example file.
std::string find_example(const std::string& relative) {
  return (std::filesystem::path(METERFLOW_SOURCE_DIR) / relative).string();
}

// ---- loading -----------------------------------------------------------------------------

TEST(CatalogLoadTest, SpecExample) {
  auto c = catalog::parse(spec_example);
  ASSERT_OK(c);
  EXPECT_EQ(c->rounding_scale, 2);
  EXPECT_EQ(c->rounding, rounding_mode::half_even);

  ASSERT_EQ(c->meters.size(), 6u);
  const meter& api = c->meters[0];
  EXPECT_EQ(api.key, "api_calls");
  EXPECT_EQ(api.event_type, "api_request");
  EXPECT_EQ(api.agg, aggregation::count);
  EXPECT_EQ(api.value_pointer, "");
  EXPECT_TRUE(api.filters.empty());
  EXPECT_FALSE(api.window_agg.has_value());

  const meter& egress = c->meters[1];
  EXPECT_EQ(egress.agg, aggregation::sum);
  EXPECT_EQ(egress.value_pointer, "/data/gb");
  ASSERT_EQ(egress.filters.size(), 1u);
  EXPECT_EQ(egress.filters[0].pointer, "/data/direction");
  EXPECT_EQ(egress.filters[0].value, "out");

  EXPECT_EQ(c->meters[2].agg, aggregation::unique_count);
  EXPECT_EQ(c->meters[3].agg, aggregation::max);
  EXPECT_EQ(c->meters[4].agg, aggregation::latest);

  const meter& storage = c->meters[5];
  EXPECT_EQ(storage.agg, aggregation::sum);
  EXPECT_EQ(storage.window_agg, aggregation::max);
  ASSERT_EQ(storage.group_by.size(), 1u);
  EXPECT_EQ(storage.group_by[0].name, "volume");
  EXPECT_EQ(storage.group_by[0].pointer, "/data/volume_id");

  ASSERT_EQ(c->plans.size(), 1u);
  const plan& pro = c->plans[0];
  EXPECT_EQ(pro.key, "pro");
  EXPECT_EQ(pro.currency, "EUR");
  ASSERT_EQ(pro.versions.size(), 1u);
  EXPECT_EQ(pro.versions[0].effective_from, jan_1_2026);
  const auto& charges = pro.versions[0].charges;
  ASSERT_EQ(charges.size(), 3u);

  EXPECT_EQ(charges[0].type, charge_type::recurring);
  EXPECT_EQ(charges[0].amount, dec("49.99"));

  EXPECT_EQ(charges[1].type, charge_type::usage);
  EXPECT_EQ(charges[1].meter, "egress_gb");
  EXPECT_EQ(charges[1].meter_index, 1u);
  EXPECT_EQ(charges[1].model, pricing_model::graduated);
  ASSERT_EQ(charges[1].tiers.size(), 3u);
  EXPECT_EQ(charges[1].tiers[0].up_to, dec("100"));
  EXPECT_EQ(charges[1].tiers[0].unit_price, dec("0"));
  EXPECT_EQ(charges[1].tiers[1].up_to, dec("1000"));
  EXPECT_EQ(charges[1].tiers[1].unit_price, dec("0.05"));
  EXPECT_FALSE(charges[1].tiers[2].up_to.has_value());
  EXPECT_EQ(charges[1].tiers[2].unit_price, dec("0.03"));
  EXPECT_FALSE(charges[1].tiers[0].flat_price.has_value());
  EXPECT_TRUE(charges[1].alerts.empty());

  EXPECT_EQ(charges[2].type, charge_type::minimum);
  EXPECT_EQ(charges[2].amount, dec("100"));
}

TEST(CatalogLoadTest, HostingExampleFile) {
  const std::string path = find_example("examples/hosting/catalog.json");
  ASSERT_FALSE(path.empty()) << "examples/hosting/catalog.json not found";
  auto c = catalog::load_file(path);
  ASSERT_OK(c);
  ASSERT_EQ(c->meters.size(), 4u);
  ASSERT_EQ(c->plans.size(), 4u);

  const plan* web = c->find_plan("web_hosting");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->currency, "EUR");
  const auto& egress = web->versions[0].charges[1];
  EXPECT_EQ(egress.meter_index, 0u);
  ASSERT_EQ(egress.alerts.size(), 2u);
  EXPECT_EQ(egress.alerts[0], dec("80"));
  EXPECT_EQ(egress.alerts[1], dec("100"));

  const plan* ent = c->find_plan("enterprise_v2");
  ASSERT_NE(ent, nullptr);
  EXPECT_EQ(ent->currency, "USD");
  const auto& charges = ent->versions[0].charges;
  ASSERT_EQ(charges.size(), 4u);
  EXPECT_EQ(charges[0].model, pricing_model::volume);
  EXPECT_EQ(charges[0].meter_index, 1u);
  EXPECT_EQ(charges[0].tiers[1].unit_price, dec("0.0004"));
  EXPECT_EQ(charges[1].model, pricing_model::per_unit);
  EXPECT_EQ(charges[1].meter_index, 2u);
  EXPECT_EQ(charges[1].unit_price, dec("0.00014"));
  EXPECT_EQ(charges[2].model, pricing_model::package);
  EXPECT_EQ(charges[2].meter_index, 3u);
  EXPECT_EQ(charges[2].package_size, dec("10"));
  EXPECT_EQ(charges[2].package_price, dec("25"));
  EXPECT_EQ(charges[3].type, charge_type::minimum);
  EXPECT_EQ(charges[3].amount, dec("500"));

  ASSERT_NE(c->find_plan("vps_2core"), nullptr);
  EXPECT_EQ(c->find_plan("vps_4core")->versions[0].charges[0].amount, dec("40"));
  EXPECT_EQ(c->find_plan("vps_8core"), nullptr);
}

// The schema's examples must load and its invalid catalogs must not: engine and schema agree.
TEST(CatalogLoadTest, SchemaExamplesAgreeWithTheEngine) {
  const char* root = METERFLOW_SOURCE_DIR;
  int valid = 0, invalid = 0;
  for (const auto& kind : {"examples", "invalid"}) {
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(root) / "schemas" / kind)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with("catalog.")) continue;
      auto c = catalog::load_file(entry.path().string());
      if (std::string_view(kind) == "examples") {
        EXPECT_OK(c) << "valid example " << name;
        ++valid;
      } else {
        EXPECT_FALSE(c.has_value()) << "invalid example " << name << " loaded";
        ++invalid;
      }
    }
  }
  EXPECT_GT(valid, 0);
  EXPECT_GT(invalid, 0);
}

TEST(CatalogLoadTest, NumbersAndStringsGiveTheSameDecimals) {
  constexpr std::string_view numbers = R"({
    "meters": [{"key": "m", "event_type": "t", "aggregation": "sum", "value": "/data/v"}],
    "plans": [{"key": "p", "currency": "EUR", "versions": [{"effective_from": "2026-01-01T00:00:00Z",
      "charges": [
        {"type": "recurring", "amount": 49.99 },
        {"type": "usage", "meter": "m", "model": "graduated", "alerts": [80, 100.5], "tiers": [
          {"up_to": 100,
           "unit_price": 0},
          {"up_to": 1e3, "unit_price": 5e-2, "flat_price": 1.50},
          {"up_to": null, "unit_price": 0.000000000001}]},
        {"type": "usage", "meter": "m", "model": "package", "package_size": 10, "package_price": 25.00},
        {"type": "minimum", "amount": 100.00
        }]}]}]})";
  constexpr std::string_view strings = R"({
    "meters": [{"key": "m", "event_type": "t", "aggregation": "sum", "value": "/data/v"}],
    "plans": [{"key": "p", "currency": "EUR", "versions": [{"effective_from": "2026-01-01T00:00:00Z",
      "charges": [
        {"type": "recurring", "amount": "49.99"},
        {"type": "usage", "meter": "m", "model": "graduated", "alerts": ["80", "100.5"], "tiers": [
          {"up_to": "100", "unit_price": "0"},
          {"up_to": "1000", "unit_price": "0.05", "flat_price": "1.5"},
          {"up_to": null, "unit_price": "0.000000000001"}]},
        {"type": "usage", "meter": "m", "model": "package", "package_size": "10", "package_price": "25"},
        {"type": "minimum", "amount": "100"}]}]}]})";
  auto a = catalog::parse(numbers);
  auto b = catalog::parse(strings);
  ASSERT_OK(a);
  ASSERT_OK(b);
  const auto& ca = a->plans[0].versions[0].charges;
  const auto& cb = b->plans[0].versions[0].charges;
  EXPECT_EQ(ca[0].amount, dec("49.99"));
  EXPECT_EQ(ca[0].amount, cb[0].amount);
  EXPECT_EQ(ca[1].alerts, cb[1].alerts);
  ASSERT_EQ(ca[1].tiers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ca[1].tiers[i].up_to, cb[1].tiers[i].up_to) << "tier " << i;
    EXPECT_EQ(ca[1].tiers[i].unit_price, cb[1].tiers[i].unit_price) << "tier " << i;
    EXPECT_EQ(ca[1].tiers[i].flat_price, cb[1].tiers[i].flat_price) << "tier " << i;
  }
  EXPECT_EQ(ca[1].tiers[1].up_to, dec("1000"));
  EXPECT_EQ(ca[1].tiers[1].unit_price, dec("0.05"));
  EXPECT_EQ(ca[1].tiers[2].unit_price, decimal::from_raw(1));  // 10^-12, exactly
  EXPECT_EQ(ca[2].package_size, cb[2].package_size);
  EXPECT_EQ(ca[2].package_price, cb[2].package_price);
  EXPECT_EQ(ca[3].amount, cb[3].amount);
}

TEST(CatalogLoadTest, RoundingDefaultsAndHalfUp) {
  constexpr std::string_view minimal =
      R"({"meters": [], "plans": [{"key": "p", "currency": "EUR", "versions": [
           {"effective_from": "2026-01-01T00:00:00Z", "charges": []}]}]})";
  auto c = catalog::parse(minimal);
  ASSERT_OK(c);
  EXPECT_EQ(c->rounding_scale, 2);
  EXPECT_EQ(c->rounding, rounding_mode::half_even);

  auto up = catalog::parse(
      R"({"rounding": {"scale": 0, "mode": "half_up"}, "meters": [], "plans": []})");
  ASSERT_OK(up);
  EXPECT_EQ(up->rounding_scale, 0);
  EXPECT_EQ(up->rounding, rounding_mode::half_up);

  auto twelve = catalog::parse(R"({"rounding": {"scale": 12}, "meters": [], "plans": []})");
  ASSERT_OK(twelve);
  EXPECT_EQ(twelve->rounding_scale, 12);
  EXPECT_EQ(twelve->rounding, rounding_mode::half_even);
}

TEST(CatalogLoadTest, DescriptionAndSchemaAreIgnored) {
  constexpr std::string_view json = R"({
    "$schema": "../catalog.schema.json", "description": "top",
    "rounding": {"description": "r"},
    "meters": [{"key": "m", "event_type": "t", "aggregation": "count", "description": "m"}],
    "plans": [{"key": "p", "currency": "EUR", "description": "p \u00e9", "versions": [
      {"description": "v", "effective_from": "2026-01-01T00:00:00Z", "charges": [
        {"type": "recurring", "amount": "1", "description": "c"},
        {"type": "usage", "meter": "m", "model": "volume", "description": "u", "tiers": [
          {"up_to": null, "unit_price": "1", "description": "t"}]}]}]}]})";
  ASSERT_OK(catalog::parse(json));
}

TEST(CatalogLoadTest, CountMeterWithWindowCountNeedsNoValue) {
  auto c = catalog::parse(R"({"meters": [
      {"key": "busy", "event_type": "heartbeat", "aggregation": "sum", "window_aggregation": "count"},
      {"key": "calls", "event_type": "api", "aggregation": "count", "window_aggregation": "count"}],
    "plans": []})");
  ASSERT_OK(c);
  EXPECT_EQ(c->meters[0].value_pointer, "");
  EXPECT_EQ(c->meters[0].window_agg, aggregation::count);
}

TEST(CatalogLoadTest, MetersMayBeDeclaredAfterThePlansThatUseThem) {
  auto c = catalog::parse(R"({"plans": [{"key": "p", "currency": "EUR", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [
        {"model": "per_unit", "unit_price": "1", "meter": "b", "type": "usage"}]}]}],
    "meters": [{"key": "a", "event_type": "x", "aggregation": "count"},
               {"key": "b", "event_type": "y", "aggregation": "count"}]})");
  ASSERT_OK(c);
  EXPECT_EQ(c->plans[0].versions[0].charges[0].meter_index, 1u);
}

TEST(CatalogLoadTest, MetersForType) {
  auto c = catalog::parse(R"({"meters": [
      {"key": "a", "event_type": "transfer", "aggregation": "count"},
      {"key": "b", "event_type": "login", "aggregation": "count"},
      {"key": "c", "event_type": "transfer", "aggregation": "sum", "value": "/data/gb"}],
    "plans": []})");
  ASSERT_OK(c);
  auto transfer = c->meters_for_type("transfer");
  ASSERT_EQ(transfer.size(), 2u);
  EXPECT_EQ(transfer[0], 0u);
  EXPECT_EQ(transfer[1], 2u);
  auto login = c->meters_for_type(std::string_view("login"));
  ASSERT_EQ(login.size(), 1u);
  EXPECT_EQ(login[0], 1u);
  EXPECT_TRUE(c->meters_for_type("unknown").empty());
  EXPECT_TRUE(c->meters_for_type("").empty());
}

TEST(CatalogLoadTest, IndexesSurviveACopy) {
  auto c = catalog::parse(spec_example);
  ASSERT_OK(c);
  const catalog copy = *c;
  ASSERT_NE(copy.find_plan("pro"), nullptr);
  EXPECT_EQ(copy.find_plan("pro"), &copy.plans[0]);
  EXPECT_EQ(copy.meters_for_type("transfer").size(), 1u);
}

TEST(CatalogLoadTest, VersionAt) {
  auto c = catalog::parse(R"({"meters": [], "plans": [{"key": "p", "currency": "EUR", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [{"type": "recurring", "amount": "10"}]},
      {"effective_from": "2026-07-01T02:00:00+02:00", "charges": [{"type": "recurring", "amount": "20"}]}]}]})");
  ASSERT_OK(c);
  const plan* p = c->find_plan("p");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->versions.size(), 2u);
  EXPECT_EQ(p->versions[1].effective_from, jul_1_2026);  // the offset is normalised to UTC

  EXPECT_EQ(p->version_at(jan_1_2026 - millis(1)), nullptr);
  EXPECT_EQ(p->version_at(timestamp{0}), nullptr);
  EXPECT_EQ(p->version_at(jan_1_2026), &p->versions[0]);
  EXPECT_EQ(p->version_at(jul_1_2026 - millis(1)), &p->versions[0]);
  EXPECT_EQ(p->version_at(jul_1_2026), &p->versions[1]);
  EXPECT_EQ(p->version_at(jul_1_2026 + millis(86'400'000LL * 365)), &p->versions[1]);
}

TEST(CatalogLoadTest, LoadFileErrorsNameTheFile) {
  auto missing = catalog::load_file("/nonexistent/meterflow/catalog.json");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("/nonexistent/meterflow/catalog.json"), std::string::npos)
      << missing.error().message;

  const auto dir = std::filesystem::temp_directory_path() /
                   ("meterflow_catalog_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "bad.json";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(R"({"meters": [], "plans": [], "plan": []})", f);
    std::fclose(f);
  }
  auto bad = catalog::load_file(file.string());
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, file.string() + ": plan: unknown member");
}

// ---- errors ------------------------------------------------------------------------------

struct error_case {
  const char* name;
  std::string json;
  std::string expected;  // a substring of the error, starting with the JSON path
};

std::ostream& operator<<(std::ostream& os, const error_case& c) { return os << c.name; }

// A catalog around one charges array (plan "p", one version) and the meter "egress_gb".
std::string with_charges(std::string_view charges) {
  return std::string(R"({"meters": [{"key": "egress_gb", "event_type": "transfer",
      "aggregation": "sum", "value": "/data/gb"}],
    "plans": [{"key": "p", "currency": "EUR", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [)") +
         std::string(charges) + "]}]}]}";
}

// A graduated usage charge with the given tiers (and extra members).
std::string graduated_with(std::string_view tiers, std::string_view extra = "") {
  return with_charges(
      std::string(R"({"type": "recurring", "amount": "1"},
        {"type": "usage", "meter": "egress_gb", "model": "graduated", )") +
      std::string(extra) + R"("tiers": [)" + std::string(tiers) + "]}");
}

// A catalog around one meters array.
std::string with_meters(std::string_view meters) {
  return R"({"meters": [)" + std::string(meters) + R"(], "plans": []})";
}

// A catalog around one plans array.
std::string with_plans(std::string_view plans) {
  return R"({"meters": [], "plans": [)" + std::string(plans) + "]}";
}

std::string version(std::string_view effective_from) {
  return R"({"effective_from": ")" + std::string(effective_from) +
         R"(", "charges": [{"type": "recurring", "amount": "1"}]})";
}

class CatalogErrorTest : public ::testing::TestWithParam<error_case> {};

TEST_P(CatalogErrorTest, FailsNamingThePath) {
  const auto& c = GetParam();
  auto r = catalog::parse(c.json);
  ASSERT_FALSE(r.has_value()) << "loaded, expected: " << c.expected;
  EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
      << "error: " << r.error().message << "\nexpected to contain: " << c.expected;
  // The path comes first: the operator reads where, then what.
  EXPECT_EQ(r.error().message.find(c.expected.substr(0, c.expected.find(':'))), 0u)
      << "error: " << r.error().message;
}

const std::string charge0 = "plans[0].versions[0].charges[0]";
const std::string charge1 = "plans[0].versions[0].charges[1]";
const std::string tiers1 = charge1 + ".tiers";

INSTANTIATE_TEST_SUITE_P(
    CatalogDocument, CatalogErrorTest,
    ::testing::Values(
        error_case{"NotJson", "{\"meters\": [", "catalog: invalid JSON"},
        error_case{"NotAnObject", "[]", "catalog: the document must be a JSON object"},
        error_case{"TrailingContent", R"({"meters": [], "plans": []} {})",
                   "catalog: unexpected content after the catalog object"},
        error_case{"MissingPlans", R"({"meters": []})", "catalog: missing \"plans\""},
        error_case{"MissingMeters", R"({"plans": []})", "catalog: missing \"meters\""},
        error_case{"UnknownTopLevelMember", R"({"meters": [], "plans": [], "plan": []})",
                   "plan: unknown member"},
        error_case{"SchemaOnlyAtTopLevel",
                   R"({"meters": [], "plans": [], "rounding": {"$schema": "x"}})",
                   "rounding.$schema: unknown member"},
        error_case{"DuplicateMember", R"({"meters": [], "plans": [], "meters": []})",
                   "meters: duplicate member"},
        // Ignored members are still read, so they cannot hide malformed JSON.
        error_case{"DescriptionNotAString",
                   R"({"meters": [{"key": "a", "event_type": "t", "aggregation": "count",
                                   "description": [1, 2]}], "plans": []})",
                   "meters[0].description: must be a string"},
        error_case{"SchemaNotAString", R"({"$schema": 1, "meters": [], "plans": []})",
                   "$schema: must be a string"}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    CatalogRounding, CatalogErrorTest,
    ::testing::Values(
        error_case{"ScaleTooLarge", R"({"rounding": {"scale": 13}, "meters": [], "plans": []})",
                   "rounding.scale: must be an integer from 0 to 12"},
        error_case{"ScaleNegative", R"({"rounding": {"scale": -1}, "meters": [], "plans": []})",
                   "rounding.scale: must be an integer from 0 to 12"},
        error_case{"ScaleFractional", R"({"rounding": {"scale": 2.5}, "meters": [], "plans": []})",
                   "rounding.scale: must be an integer from 0 to 12"},
        error_case{"ScaleAsString", R"({"rounding": {"scale": "2"}, "meters": [], "plans": []})",
                   "rounding.scale: must be an integer from 0 to 12"},
        error_case{"UnknownMode",
                   R"({"rounding": {"mode": "bankers"}, "meters": [], "plans": []})",
                   "rounding.mode: unknown rounding mode \"bankers\""},
        error_case{"UnknownMember", R"({"rounding": {"digits": 2}, "meters": [], "plans": []})",
                   "rounding.digits: unknown member"},
        error_case{"NotAnObject", R"({"rounding": 2, "meters": [], "plans": []})",
                   "rounding: must be an object"}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    CatalogMeters, CatalogErrorTest,
    ::testing::Values(
        error_case{"EmptyKey", with_meters(R"({"key": "", "event_type": "t", "aggregation": "count"})"),
                   "meters[0].key: must not be empty"},
        error_case{"MissingKey", with_meters(R"({"event_type": "t", "aggregation": "count"})"),
                   "meters[0]: missing \"key\""},
        error_case{"DuplicateKey",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count"},
                                  {"key": "a", "event_type": "u", "aggregation": "count"})"),
                   "meters[1].key: duplicate meter key \"a\""},
        error_case{"MissingEventType", with_meters(R"({"key": "a", "aggregation": "count"})"),
                   "meters[0]: missing \"event_type\""},
        error_case{"EmptyEventType",
                   with_meters(R"({"key": "a", "event_type": "", "aggregation": "count"})"),
                   "meters[0].event_type: must not be empty"},
        error_case{"MissingAggregation", with_meters(R"({"key": "a", "event_type": "t"})"),
                   "meters[0]: missing \"aggregation\""},
        error_case{"UnknownAggregation",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "avg", "value": "/v"})"),
                   "meters[0].aggregation: unknown aggregation \"avg\""},
        error_case{"SumWithoutValue",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "sum"})"),
                   "meters[0]: missing \"value\" (aggregation sum reads a value)"},
        error_case{"UniqueCountWithoutValue",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "unique_count"})"),
                   "meters[0]: missing \"value\""},
        error_case{"CountWithWindowMaxWithoutValue",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count",
                                   "window_aggregation": "max"})"),
                   "meters[0]: missing \"value\" (window_aggregation max reads a value)"},
        error_case{"ValueNotAPointer",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "sum", "value": "data/gb"})"),
                   "meters[0].value: must be a JSON Pointer"},
        error_case{"ValueBadEscape",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "sum", "value": "/data/~2"})"),
                   "meters[0].value: invalid JSON Pointer \"/data/~2\""},
        error_case{"ValueWholeEvent",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "sum", "value": ""})"),
                   "meters[0].value: \"\" points at the whole event"},
        error_case{"ValueNotAString",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "sum", "value": 3})"),
                   "meters[0].value: must be a string"},
        error_case{"FilterNotAnObject",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count",
                                   "filter": ["/data/x"]})"),
                   "meters[0].filter: must be an object"},
        error_case{"FilterValueNotAString",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count",
                                   "filter": {"/data/direction": 1}})"),
                   "meters[0].filter[\"/data/direction\"]: must be a string"},
        error_case{"FilterKeyNotAPointer",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count",
                                   "filter": {"direction": "out"}})"),
                   "meters[0].filter[\"direction\"]: must be a JSON Pointer"},
        error_case{"UnknownWindowAggregation",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "sum", "value": "/v",
                                   "window_aggregation": "unique_count"})"),
                   "meters[0].window_aggregation: unknown window aggregation \"unique_count\""},
        error_case{"GroupByBadPointer",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count",
                                   "group_by": {"volume": "volume_id"}})"),
                   "meters[0].group_by[\"volume\"]: must be a JSON Pointer"},
        error_case{"GroupByEmptyName",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count",
                                   "group_by": {"": "/data/v"}})"),
                   "meters[0].group_by[\"\"]: a group name must not be empty"},
        error_case{"UnknownMember",
                   with_meters(R"({"key": "a", "event_type": "t", "aggregation": "count", "unit": "GB"})"),
                   "meters[0].unit: unknown member"},
        error_case{"NotAnArray", R"({"meters": {}, "plans": []})", "meters: must be an array"}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    CatalogPlans, CatalogErrorTest,
    ::testing::Values(
        error_case{"DuplicateKey",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + R"(]},
                                 {"key": "p", "currency": "USD", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[1].key: duplicate plan key \"p\""},
        error_case{"EmptyKey",
                   with_plans(R"({"key": "", "currency": "EUR", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[0].key: must not be empty"},
        error_case{"LowerCaseCurrency",
                   with_plans(R"({"key": "p", "currency": "eur", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[0].currency: must be three upper-case letters (ISO 4217), got \"eur\""},
        error_case{"FourLetterCurrency",
                   with_plans(R"({"key": "p", "currency": "EURO", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[0].currency: must be three upper-case letters"},
        error_case{"MissingCurrency",
                   with_plans(R"({"key": "p", "versions": [)" + version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[0]: missing \"currency\""},
        error_case{"NoVersions", with_plans(R"({"key": "p", "currency": "EUR", "versions": []})"),
                   "plans[0].versions: must not be empty"},
        error_case{"MissingVersions", with_plans(R"({"key": "p", "currency": "EUR"})"),
                   "plans[0]: missing \"versions\""},
        error_case{"EqualEffectiveFrom",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + "," +
                              version("2026-01-01T01:00:00+01:00") + "]}"),
                   "plans[0].versions[1].effective_from: versions must have strictly ascending "
                   "effective_from (2026-01-01T00:00:00Z after 2026-01-01T00:00:00Z)"},
        error_case{"DescendingEffectiveFrom",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [)" +
                              version("2026-07-01T00:00:00Z") + "," +
                              version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[0].versions[1].effective_from: versions must have strictly ascending"},
        error_case{"EffectiveFromWithoutOffset",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [)" +
                              version("2026-01-01T00:00:00") + "]}"),
                   "plans[0].versions[0].effective_from: invalid RFC 3339 time"},
        error_case{"EffectiveFromNotATime",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [)" +
                              version("January") + "]}"),
                   "plans[0].versions[0].effective_from: invalid RFC 3339 time \"January\""},
        error_case{"MissingCharges",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [
                                 {"effective_from": "2026-01-01T00:00:00Z"}]})"),
                   "plans[0].versions[0]: missing \"charges\""},
        error_case{"UnknownVersionMember",
                   with_plans(R"({"key": "p", "currency": "EUR", "versions": [
                                 {"effective_from": "2026-01-01T00:00:00Z", "charges": [],
                                  "effective_to": "2027-01-01T00:00:00Z"}]})"),
                   "plans[0].versions[0].effective_to: unknown member"},
        error_case{"UnknownPlanMember",
                   with_plans(R"({"key": "p", "currency": "EUR", "name": "Pro", "versions": [)" +
                              version("2026-01-01T00:00:00Z") + "]}"),
                   "plans[0].name: unknown member"}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    CatalogCharges, CatalogErrorTest,
    ::testing::Values(
        error_case{"MissingType", with_charges(R"({"amount": "1"})"),
                   charge0 + ": missing \"type\""},
        error_case{"UnknownType", with_charges(R"({"type": "one_time", "amount": "1"})"),
                   charge0 + ".type: unknown charge type \"one_time\""},
        error_case{"RecurringWithoutAmount", with_charges(R"({"type": "recurring"})"),
                   charge0 + ": a recurring charge needs \"amount\""},
        error_case{"MinimumWithoutAmount", with_charges(R"({"type": "minimum"})"),
                   charge0 + ": a minimum charge needs \"amount\""},
        error_case{"TwoMinimums",
                   with_charges(R"({"type": "minimum", "amount": "10"},
                                   {"type": "minimum", "amount": "20"})"),
                   charge1 + ": at most one minimum charge per version (" + charge0 +
                       " is one already)"},
        error_case{"NegativeAmount", with_charges(R"({"type": "recurring", "amount": "-49.99"})"),
                   charge0 + ".amount: invalid decimal \"-49.99\""},
        error_case{"TooManyFractionDigits",
                   with_charges(R"({"type": "recurring", "amount": "0.0000000000001"})"),
                   charge0 + ".amount: invalid decimal \"0.0000000000001\""},
        error_case{"NumberWithTooManyFractionDigits",
                   with_charges(R"({"type": "recurring", "amount": 1e-13})"),
                   charge0 + ".amount: invalid decimal \"1e-13\""},
        error_case{"NumberWithLeadingZeros",
                   with_charges(R"({"type": "recurring", "amount": 00012.50})"),
                   charge0 + ".amount: \"00012.50\" is not a valid JSON number"},
        error_case{"NumberWithTrailingDot", with_charges(R"({"type": "recurring", "amount": 1.})"),
                   charge0 + ".amount: \"1.\" is not a valid JSON number"},
        error_case{"AmountNotADecimal", with_charges(R"({"type": "recurring", "amount": true})"),
                   charge0 + ".amount: must be a decimal"},
        error_case{"AmountGarbage", with_charges(R"({"type": "recurring", "amount": "12abc"})"),
                   charge0 + ".amount: invalid decimal \"12abc\""},
        error_case{"UnitPriceOnRecurring",
                   with_charges(R"({"type": "recurring", "amount": "1", "unit_price": "2"})"),
                   charge0 + ".unit_price: not allowed in a recurring charge"},
        error_case{"MeterOnMinimum",
                   with_charges(R"({"meter": "egress_gb", "type": "minimum", "amount": "1"})"),
                   charge0 + ".meter: not allowed in a minimum charge"},
        error_case{"UsageWithoutMeter",
                   with_charges(R"({"type": "usage", "model": "per_unit", "unit_price": "1"})"),
                   charge0 + ": a usage charge needs \"meter\""},
        error_case{"UnknownMeter",
                   with_charges(R"({"type": "recurring", "amount": "1"},
                                   {"type": "usage", "meter": "egress", "model": "per_unit", "unit_price": "1"})"),
                   charge1 + ".meter: unknown meter \"egress\""},
        error_case{"UsageWithoutModel",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "unit_price": "1"})"),
                   charge0 + ": a usage charge needs \"model\""},
        error_case{"UnknownModel",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "tiered", "unit_price": "1"})"),
                   charge0 + ".model: unknown pricing model \"tiered\""},
        error_case{"PerUnitWithoutUnitPrice",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "per_unit"})"),
                   charge0 + ": a per_unit charge needs \"unit_price\""},
        error_case{"TiersOnPerUnit",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "per_unit",
                                    "unit_price": "1", "tiers": [{"up_to": null, "unit_price": "1"}]})"),
                   charge0 + ".tiers: not allowed in a per_unit usage charge"},
        // Reported as not belonging, before the (broken) tiers themselves are looked at.
        error_case{"BrokenTiersOnPerUnit",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "per_unit",
                                    "unit_price": "1", "tiers": [{"up_to": null}]})"),
                   charge0 + ".tiers: not allowed in a per_unit usage charge"},
        // Member order is free: the model may come last.
        error_case{"TiersBeforeModel",
                   with_charges(R"({"tiers": [{"up_to": null, "unit_price": "1"}], "unit_price": "1",
                                    "type": "usage", "meter": "egress_gb", "model": "per_unit"})"),
                   charge0 + ".tiers: not allowed in a per_unit usage charge"},
        error_case{"AmountOnUsage",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "per_unit",
                                    "unit_price": "1", "amount": "5"})"),
                   charge0 + ".amount: not allowed in a per_unit usage charge"},
        error_case{"UnitPriceOnGraduated",
                   graduated_with(R"({"up_to": null, "unit_price": "1"})", R"("unit_price": "1", )"),
                   charge1 + ".unit_price: not allowed in a graduated usage charge"},
        error_case{"PackageSizeOnVolume",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "volume",
                                    "package_size": "10", "tiers": [{"up_to": null, "unit_price": "1"}]})"),
                   charge0 + ".package_size: not allowed in a volume usage charge"},
        error_case{"GraduatedWithoutTiers",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "graduated"})"),
                   charge0 + ": a graduated charge needs \"tiers\""},
        error_case{"VolumeWithoutTiers",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "volume"})"),
                   charge0 + ": a volume charge needs \"tiers\""},
        error_case{"PackageWithoutSize",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "package",
                                    "package_price": "25"})"),
                   charge0 + ": a package charge needs \"package_size\""},
        error_case{"PackageWithoutPrice",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "package",
                                    "package_size": "10"})"),
                   charge0 + ": a package charge needs \"package_price\""},
        error_case{"PackageSizeZero",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "package",
                                    "package_size": "0.000", "package_price": "25"})"),
                   charge0 + ".package_size: must be greater than 0"},
        error_case{"UnknownChargeMember",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "per_unit",
                                    "unit_prices": "1"})"),
                   charge0 + ".unit_prices: unknown member"}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    CatalogTiers, CatalogErrorTest,
    ::testing::Values(
        error_case{"Empty", graduated_with(""), tiers1 + ": must not be empty"},
        error_case{"NotAnArray",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "volume", "tiers": {}})"),
                   charge0 + ".tiers: must be an array"},
        // The example of the module's contract, to the letter.
        error_case{"EqualUpTo",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"},
                                     {"up_to": "1000", "unit_price": "0.05"},
                                     {"up_to": 1000, "unit_price": "0.04"},
                                     {"up_to": null, "unit_price": "0.03"})"),
                   tiers1 + "[2].up_to: tiers must ascend (1000 after 1000)"},
        error_case{"DescendingUpTo",
                   graduated_with(R"({"up_to": "1000", "unit_price": "0"},
                                     {"up_to": "100.5", "unit_price": "0.05"},
                                     {"up_to": null, "unit_price": "0.03"})"),
                   tiers1 + "[1].up_to: tiers must ascend (100.5 after 1000)"},
        error_case{"ZeroUpTo",
                   graduated_with(R"({"up_to": "0", "unit_price": "0"},
                                     {"up_to": null, "unit_price": "0.03"})"),
                   tiers1 + "[0].up_to: must be greater than 0"},
        error_case{"UnboundedInTheMiddle",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"},
                                     {"up_to": null, "unit_price": "0.05"},
                                     {"up_to": null, "unit_price": "0.03"})"),
                   tiers1 + "[1].up_to: only the last tier may be unbounded"},
        error_case{"LastTierBounded",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"},
                                     {"up_to": "1000", "unit_price": "0.05"})"),
                   tiers1 + "[1].up_to: the last tier must be unbounded (\"up_to\": null)"},
        error_case{"LastTierWithoutUpTo",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"},
                                     {"unit_price": "0.05"})"),
                   tiers1 + "[1]: missing \"up_to\""},
        error_case{"UpToNotADecimal",
                   graduated_with(R"({"up_to": "lots", "unit_price": "0"},
                                     {"up_to": null, "unit_price": "0.05"})"),
                   tiers1 + "[0].up_to: invalid decimal \"lots\""},
        error_case{"NoPrice",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"},
                                     {"up_to": null})"),
                   tiers1 + "[1]: a tier needs \"unit_price\" and/or \"flat_price\""},
        error_case{"NegativeUnitPrice",
                   graduated_with(R"({"up_to": null, "unit_price": "-0.05"})"),
                   tiers1 + "[0].unit_price: invalid decimal \"-0.05\""},
        error_case{"UnknownTierMember",
                   graduated_with(R"({"up_to": null, "unit_price": "1", "from": "0"})"),
                   tiers1 + "[0].from: unknown member"}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    CatalogAlerts, CatalogErrorTest,
    ::testing::Values(
        error_case{"OnPerUnit",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "per_unit",
                                    "unit_price": "1", "alerts": [80]})"),
                   charge0 +
                       ".alerts: alerts need a graduated or volume charge whose first tier is "
                       "bounded"},
        error_case{"OnPackage",
                   with_charges(R"({"type": "usage", "meter": "egress_gb", "model": "package",
                                    "package_size": "10", "package_price": "1", "alerts": [80]})"),
                   charge0 + ".alerts: alerts need a graduated or volume charge"},
        error_case{"UnboundedFirstTier",
                   graduated_with(R"({"up_to": null, "unit_price": "1"})", R"("alerts": [80], )"),
                   charge1 + ".alerts: alerts need a bounded first tier"},
        error_case{"NotAscending",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"}, {"up_to": null, "unit_price": "1"})",
                                  R"("alerts": [100, 80], )"),
                   charge1 + ".alerts[1]: alerts must ascend (80 after 100)"},
        error_case{"Repeated",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"}, {"up_to": null, "unit_price": "1"})",
                                  R"("alerts": [80, "80.0"], )"),
                   charge1 + ".alerts[1]: alerts must ascend (80 after 80)"},
        error_case{"Zero",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"}, {"up_to": null, "unit_price": "1"})",
                                  R"("alerts": [0, 80], )"),
                   charge1 + ".alerts[0]: an alert percent must be greater than 0"},
        error_case{"Negative",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"}, {"up_to": null, "unit_price": "1"})",
                                  R"("alerts": [-5], )"),
                   charge1 + ".alerts[0]: invalid decimal \"-5\""},
        error_case{"NotAnArray",
                   graduated_with(R"({"up_to": "100", "unit_price": "0"}, {"up_to": null, "unit_price": "1"})",
                                  R"("alerts": 80, )"),
                   charge1 + ".alerts: must be an array"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- describe ----------------------------------------------------------------------------

TEST(CatalogDescribeTest, SpecExample) {
  auto c = catalog::parse(spec_example);
  ASSERT_OK(c);
  EXPECT_EQ(describe(*c),
            "rounding: 2 fractional digits, half_even\n"
            "meter api_calls: event type api_request, count\n"
            "meter egress_gb: event type transfer, sum of /data/gb, filter /data/direction = "
            "\"out\"\n"
            "meter active_users: event type login, unique_count of /data/user\n"
            "meter peak_vcpu: event type vm_sample, max of /data/vcpu\n"
            "meter seats: event type seat_count, latest of /data/seats\n"
            "meter storage_gb_hours: event type storage_sample, sum of /data/gb, window aggregation "
            "max, group by volume=/data/volume_id\n"
            "pro (EUR), from 2026-01-01T00:00:00Z:\n"
            "  recurring 49.99 per period\n"
            "  usage egress_gb graduated: 0-100 at 0, 100-1000 at 0.05, above 1000 at 0.03\n"
            "  minimum 100.00 per period (true-up)\n");
}

TEST(CatalogDescribeTest, EveryModelAndAlerts) {
  auto c = catalog::parse(R"({"rounding": {"scale": 3, "mode": "half_up"},
    "meters": [{"key": "gb", "event_type": "transfer", "aggregation": "sum", "value": "/data/gb"},
               {"key": "users", "event_type": "login", "aggregation": "unique_count", "value": "/data/user"}],
    "plans": [{"key": "ent", "currency": "USD", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [{"type": "recurring", "amount": "10"}]},
      {"effective_from": "2026-07-01T00:00:00.250Z", "charges": [
        {"type": "usage", "meter": "gb", "model": "per_unit", "unit_price": "0.00014"},
        {"type": "usage", "meter": "gb", "model": "graduated", "alerts": [80, 100], "tiers": [
          {"up_to": "100", "unit_price": "0"}, {"up_to": "1000", "unit_price": "0.05"},
          {"up_to": null, "unit_price": "0.03"}]},
        {"type": "usage", "meter": "gb", "model": "volume", "tiers": [
          {"up_to": "10", "flat_price": "5"}, {"up_to": null, "unit_price": "0.2", "flat_price": "2.5"}]},
        {"type": "usage", "meter": "users", "model": "package", "package_size": "10", "package_price": "25"},
        {"type": "minimum", "amount": "49.9999"}]}]}]})");
  ASSERT_OK(c);
  EXPECT_EQ(describe(*c),
            "rounding: 3 fractional digits, half_up\n"
            "meter gb: event type transfer, sum of /data/gb\n"
            "meter users: event type login, unique_count of /data/user\n"
            "ent (USD), from 2026-01-01T00:00:00Z:\n"
            "  recurring 10.000 per period\n"
            "ent (USD), from 2026-07-01T00:00:00.250Z:\n"
            "  usage gb per_unit at 0.00014 per unit\n"
            "  usage gb graduated: 0-100 at 0, 100-1000 at 0.05, above 1000 at 0.03; alerts at "
            "80%, 100%\n"
            "  usage gb volume: 0-10 at 0 + 5.000 flat, above 10 at 0.2 + 2.500 flat (all units at "
            "the tier the quantity reaches)\n"
            "  usage users package: 25.000 per package of 10 (started packages count in full)\n"
            "  minimum 49.9999 per period (true-up)\n");
}

}  // namespace
}  // namespace meterflow
