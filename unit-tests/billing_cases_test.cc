// Data-driven billing cases (in the style of DuckDB's sqllogictest): every directory under
// unit-tests/cases/ and examples/ holds a catalog, subscriptions, events and the expected
// result, and is rated by `meterflow rate` with the in-memory and with the RocksDB store.
//
// expected.json: "accepted", "duplicates", "dlq" (count per reason), "totals" (amount per
// tenant|period_start|kind|meter over charges and adjustments, zero totals left out), and
// optionally "lines" (objects each matching at least one output record on every member given),
// "no_lines" (objects matching no record) and "alerts" (number of alert records).
// An optional `args` file holds extra command-line flags (--grace, --window, --settlement,
// --max-future).
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "processor/offline_rate.h"
#include "processor/totals.h"
#include "unit-tests/test_util.h"

namespace fs = std::filesystem;
using namespace meterflow;

namespace {

std::vector<std::string> case_dirs() {
  std::vector<std::string> dirs;
  for (const char* root : {"unit-tests/cases", "examples"}) {
    fs::path p = fs::path(METERFLOW_SOURCE_DIR) / root;
    if (!fs::exists(p)) continue;
    for (const auto& entry : fs::directory_iterator(p))
      if (entry.is_directory() && fs::exists(entry.path() / "expected.json"))
        dirs.push_back(entry.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// Applies the flags of an `args` file to the options.
void apply_args(const fs::path& dir, rate_options& o) {
  if (!fs::exists(dir / "args")) return;
  std::istringstream in(read_file(dir / "args"));
  std::string flag, value;
  while (in >> flag >> value) {
    auto d = parse_duration(value);
    ASSERT_TRUE(d.has_value()) << "args: bad duration " << value;
    if (flag == "--grace") o.engine.grace = *d;
    else if (flag == "--window") o.engine.window = *d;
    else if (flag == "--settlement") o.engine.settlement = *d;
    else if (flag == "--max-future") o.engine.decoder.max_future = *d;
    else FAIL() << "args: unknown flag " << flag;
  }
}

struct run_output {
  rate_summary summary;
  std::vector<std::string> records;  // charges and adjustments
  std::vector<std::string> alerts;
  std::vector<std::string> dead_letters;
};

run_output run_case(const fs::path& dir, state_backend backend) {
  temp_dir tmp;
  rate_options o;
  o.catalog_path = (dir / "catalog.json").string();
  o.subscriptions_path = (dir / "subscriptions.jsonl").string();
  o.events_path = (dir / "events.jsonl").string();
  o.out_path = tmp.file("charges.jsonl");
  o.dlq_path = tmp.file("dlq.jsonl");
  o.alerts_path = tmp.file("alerts.jsonl");
  o.state = backend;
  o.state_dir = tmp.file("state");
  o.commit_every = 3;  // many commits: exercises checkpointing on every case
  apply_args(dir, o);
  run_output out;
  auto summary = run_rate(o);
  EXPECT_TRUE(summary.has_value()) << (summary ? "" : summary.error().message);
  if (!summary) return out;
  out.summary = *summary;
  out.records = read_lines(o.out_path);
  out.alerts = read_lines(o.alerts_path);
  out.dead_letters = read_lines(o.dlq_path);
  return out;
}

// Every member of `want` is present in `have` with the same (minified) JSON value.
bool matches(simdjson::dom::object want, simdjson::dom::object have) {
  for (auto [key, value] : want) {
    simdjson::dom::element actual;
    if (have.at_key(key).get(actual)) return false;
    if (simdjson::minify(value) != simdjson::minify(actual)) return false;
  }
  return true;
}

class BillingCaseTest : public testing::TestWithParam<std::tuple<std::string, state_backend>> {};

TEST_P(BillingCaseTest, MatchesExpected) {
  const fs::path dir = std::get<0>(GetParam());
  const run_output out = run_case(dir, std::get<1>(GetParam()));
  if (HasFailure()) return;

  simdjson::dom::parser parser;
  simdjson::dom::element expected;
  ASSERT_EQ(parser.parse(simdjson::padded_string(read_file(dir / "expected.json"))).get(expected),
            simdjson::SUCCESS)
      << "expected.json does not parse";

  int64_t accepted = 0, duplicates = 0;
  ASSERT_EQ(expected["accepted"].get(accepted), simdjson::SUCCESS);
  ASSERT_EQ(expected["duplicates"].get(duplicates), simdjson::SUCCESS);
  EXPECT_EQ(out.summary.counters.accepted, accepted);
  EXPECT_EQ(out.summary.counters.duplicates, duplicates);

  std::map<std::string, int64_t> want_dlq, got_dlq;
  simdjson::dom::object dlq;
  if (expected["dlq"].get(dlq) == simdjson::SUCCESS)
    for (auto [reason, n] : dlq) want_dlq[std::string(reason)] = int64_t(n);
  for (int i = 0; i < dead_letter_reason_count; ++i)
    if (int64_t n = out.summary.counters.dead_letters[i])
      got_dlq[std::string(to_string(static_cast<dead_letter_reason>(i)))] = n;
  EXPECT_EQ(got_dlq, want_dlq) << "dead letters per reason";
  EXPECT_EQ(static_cast<int64_t>(out.dead_letters.size()),
            std::accumulate(got_dlq.begin(), got_dlq.end(), int64_t{0},
                            [](int64_t a, const auto& kv) { return a + kv.second; }))
      << "every dead letter is written to the dlq file";

  ledger_totals ledger;
  for (const auto& line : out.records) ASSERT_OK(ledger.apply(line)) << line;
  EXPECT_TRUE(ledger.conflicts().empty());
  EXPECT_EQ(ledger.repeated(), 0) << "an offline run emits each id once";
  std::map<std::string, std::string> want_totals, got_totals;
  simdjson::dom::object totals;
  ASSERT_EQ(expected["totals"].get(totals), simdjson::SUCCESS);
  for (auto [key, amount] : totals) want_totals[std::string(key)] = std::string(amount.get_string().value());
  for (const auto& [key, t] : ledger.totals()) got_totals[key] = t.amount.to_fixed(t.digits);
  EXPECT_EQ(got_totals, want_totals) << "totals per tenant|period_start|kind|meter";

  std::vector<simdjson::dom::parser> record_parsers(out.records.size() + out.alerts.size());
  std::vector<simdjson::dom::object> records;
  size_t i = 0;
  for (const auto* list : {&out.records, &out.alerts})
    for (const auto& line : *list) {
      simdjson::dom::object obj;
      ASSERT_EQ(record_parsers[i++].parse(line).get(obj), simdjson::SUCCESS) << line;
      records.push_back(obj);
    }
  simdjson::dom::array lines;
  if (expected["lines"].get(lines) == simdjson::SUCCESS) {
    for (auto want : lines) {
      bool found = std::any_of(records.begin(), records.end(),
                               [&](auto have) { return matches(want.get_object(), have); });
      EXPECT_TRUE(found) << "no output record matches " << simdjson::minify(want);
    }
  }
  if (expected["no_lines"].get(lines) == simdjson::SUCCESS) {
    for (auto want : lines) {
      for (auto have : records) {
        EXPECT_FALSE(matches(want.get_object(), have))
            << "a record matches no_lines " << simdjson::minify(want) << ": "
            << simdjson::minify(have);
      }
    }
  }
  int64_t alerts = 0;
  if (expected["alerts"].get(alerts) == simdjson::SUCCESS) {
    EXPECT_EQ(static_cast<int64_t>(out.alerts.size()), alerts);
  }
}

std::string case_name(const testing::TestParamInfo<BillingCaseTest::ParamType>& info) {
  std::string name = fs::path(std::get<0>(info.param)).filename().string() +
                     (std::get<1>(info.param) == state_backend::memory ? "_memory" : "_rocksdb");
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, BillingCaseTest,
                         testing::Combine(testing::ValuesIn(case_dirs()),
                                          testing::Values(state_backend::memory,
                                                          state_backend::rocksdb)),
                         case_name);

}  // namespace
