// Properties of the rating engine over random inputs (seeded, so failures reproduce):
// - the charge lines of every (segment, usage charge) sum to the amount of its final quantity,
//   and every final segment's minimum true-up equals what its final totals give;
// - reordering events within the grace changes no total;
// - feeding the same input twice changes nothing (the second pass is all duplicates);
// - a checkpoint and restore at any point gives the same records as one uninterrupted run.
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "state/memory_store.h"
#include "topology/engine.h"
#include "unit-tests/test_util.h"

namespace meterflow {
namespace {

constexpr std::string_view catalog_json = R"({
  "rounding": {"scale": 2, "mode": "half_even"},
  "meters": [
    {"key": "calls", "event_type": "call", "aggregation": "count"},
    {"key": "gb", "event_type": "transfer", "aggregation": "sum", "value": "/data/gb"},
    {"key": "users", "event_type": "login", "aggregation": "unique_count", "value": "/data/user"},
    {"key": "peak", "event_type": "sample", "aggregation": "max", "value": "/data/v"},
    {"key": "seats", "event_type": "seats", "aggregation": "latest", "value": "/data/n"},
    {"key": "storage", "event_type": "sample", "aggregation": "sum", "value": "/data/v",
     "window_aggregation": "max", "group_by": {"vol": "/data/vol"}}
  ],
  "plans": [
    {"key": "a", "currency": "EUR", "versions": [{"effective_from": "2026-01-01T00:00:00Z", "charges": [
      {"type": "recurring", "amount": "19.99"},
      {"type": "usage", "meter": "calls", "model": "graduated", "tiers": [
        {"up_to": "5", "unit_price": "0", "flat_price": "1.5"},
        {"up_to": "20", "unit_price": "0.333"},
        {"up_to": null, "unit_price": "0.125"}]},
      {"type": "usage", "meter": "gb", "model": "volume", "tiers": [
        {"up_to": "10", "unit_price": "0.015"},
        {"up_to": "50", "unit_price": "0.0125", "flat_price": "2"},
        {"up_to": null, "unit_price": "0.01"}]},
      {"type": "usage", "meter": "users", "model": "package", "package_size": "3", "package_price": "4.25"},
      {"type": "usage", "meter": "storage", "model": "per_unit", "unit_price": "0.0035"},
      {"type": "minimum", "amount": "60"}]}]},
    {"key": "b", "currency": "EUR", "versions": [{"effective_from": "2026-01-01T00:00:00Z", "charges": [
      {"type": "recurring", "amount": "35"},
      {"type": "usage", "meter": "peak", "model": "per_unit", "unit_price": "1.005"},
      {"type": "usage", "meter": "seats", "model": "volume", "tiers": [
        {"up_to": "3", "unit_price": "5"}, {"up_to": null, "unit_price": "4.5"}]},
      {"type": "usage", "meter": "gb", "model": "per_unit", "unit_price": "0.045"}]}]}
  ]
})";

const std::vector<std::string> subscriptions = {
    R"({"tenant": "t1", "plan": "a", "start": "2026-03-01T00:00:00Z", "timezone": "UTC", "anchor_day": 1})",
    R"({"tenant": "t2", "plan": "b", "start": "2026-03-01T00:00:00Z", "timezone": "Europe/Berlin", "anchor_day": 1})",
    R"({"tenant": "t3", "plan": "a", "start": "2026-03-01T00:00:00Z", "timezone": "Asia/Kolkata", "anchor_day": 15})",
    R"({"tenant": "t3", "plan": "b", "start": "2026-03-20T12:00:00Z"})",
    R"({"tenant": "t4", "plan": "b", "start": "2026-03-01T00:00:00Z", "timezone": "America/New_York", "anchor_day": 28})",
    R"({"tenant": "t4", "plan": null, "start": "2026-03-10T00:00:00Z"})",
    R"({"tenant": "t4", "plan": "a", "start": "2026-03-12T06:30:00Z"})",
};

const timestamp wall{1'790'000'000'000};  // 2026-09-21: after every generated event

struct generated {
  std::vector<std::string> events;
  std::vector<int64_t> times;  // event time per line, ms
};

// Random events in time order from 2026-03-01 over `hours`, with exact re-sends.
generated generate(uint64_t seed, int count, int hours) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int64_t start = 1'772'323'200'000;  // 2026-03-01T00:00:00Z
  const int64_t span = int64_t{hours} * 3'600'000;
  std::vector<int64_t> times(count);
  for (auto& t : times) t = start + static_cast<int64_t>(rng() % static_cast<uint64_t>(span));
  std::sort(times.begin(), times.end());
  generated g;
  for (int i = 0; i < count; ++i) {
    if (i > 0 && pick(25) == 0) {  // an exact duplicate of an earlier event
      size_t j = g.events.size() - 1 - static_cast<size_t>(pick(std::min<int>(i, 5)));
      g.events.push_back(g.events[j]);
      g.times.push_back(g.times[j]);
      continue;
    }
    std::string tenant = "t" + std::to_string(1 + pick(4));
    std::string data;
    std::string type;
    switch (pick(6)) {
      case 0: type = "call"; data = "{}"; break;
      case 1: type = "transfer"; data = R"({"gb": ")" + std::to_string(pick(3000)) + "." + std::to_string(pick(1000)) + "\"}"; break;
      case 2: type = "login"; data = R"({"user": "u)" + std::to_string(pick(12)) + "\"}"; break;
      case 3: type = "sample"; data = R"({"v": )" + std::to_string(pick(500)) + R"(, "vol": "v)" + std::to_string(pick(3)) + "\"}"; break;
      case 4: type = "seats"; data = R"({"n": )" + std::to_string(1 + pick(6)) + "}"; break;
      default: type = "transfer"; data = R"({"gb": 1})"; break;
    }
    int64_t t = times[static_cast<size_t>(i)];
    g.events.push_back(R"({"specversion":"1.0","id":"e)" + std::to_string(i) +
                       R"(","source":"s","type":")" + type + R"(","subject":")" + tenant +
                       R"(","time":")" + format_utc(timestamp{t}) + R"(","data":)" + data + "}");
    g.times.push_back(t);
  }
  return g;
}

std::shared_ptr<const catalog> load_catalog() {
  auto c = catalog::parse(catalog_json);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return std::make_shared<const catalog>(std::move(*c));
}

std::unique_ptr<engine> make_engine(std::shared_ptr<const catalog> cat, engine_options o = {}) {
  auto e = std::make_unique<engine>(o, std::move(cat));
  for (const auto& line : subscriptions) {
    auto r = parse_subscription(line);
    EXPECT_TRUE(r.has_value());
    EXPECT_TRUE(e->apply_subscription(*r).has_value());
  }
  return e;
}

std::vector<output_record> run(engine& e, const std::vector<std::string>& events, bool finish) {
  std::vector<output_record> out;
  for (const auto& ev : events) e.process(ev, wall, out);
  if (finish) e.finish(out);
  return out;
}

// A flat view of one output record's string and integer members.
struct record_view {
  std::map<std::string, std::string> s;
  const std::string& operator[](const std::string& k) const {
    static const std::string empty;
    auto it = s.find(k);
    return it == s.end() ? empty : it->second;
  }
};

record_view view(const output_record& r) {
  simdjson::dom::parser p;
  simdjson::dom::object obj;
  EXPECT_EQ(p.parse(r.value).get(obj), simdjson::SUCCESS);
  record_view v;
  for (auto [k, val] : obj) {
    if (val.is_string()) v.s[std::string(k)] = std::string(val.get_string().value());
    if (val.is_int64()) v.s[std::string(k)] = std::to_string(int64_t(val));
  }
  return v;
}

decimal dec(const std::string& s) {
  auto d = decimal::parse(s, decimal_limits{26, 12, true});
  EXPECT_TRUE(d.has_value()) << s;
  return d ? *d : decimal{};
}

// tenant|period_start|kind|meter -> sum of amounts.
std::map<std::string, decimal> totals(const std::vector<output_record>& out) {
  std::map<std::string, decimal> t;
  for (const auto& r : out) {
    if (r.kind != output_kind::charge && r.kind != output_kind::adjustment) continue;
    auto v = view(r);
    auto& sum = t[v["tenant"] + "|" + v["period_start"] + "|" + v["kind"] + "|" + v["meter"]];
    sum = *sum.checked_add(dec(v["amount"]));
  }
  return t;
}

class EnginePropertyTest : public testing::TestWithParam<uint64_t> {};

TEST_P(EnginePropertyTest, LinesOfEverySegmentSumToTheRatedTotal) {
  auto cat = load_catalog();
  auto e = make_engine(cat);
  auto g = generate(GetParam(), 3000, 24 * 40);
  // Some events arrive out of order by up to 3 hours, so some are late.
  std::mt19937_64 rng(GetParam() ^ 0x5eed);
  for (size_t i = 1; i < g.events.size(); ++i)
    if (rng() % 10 == 0) std::swap(g.events[i], g.events[i - (rng() % std::min<size_t>(i, 40))]);
  auto out = run(*e, g.events, true);

  struct acc {
    decimal sum;
    int64_t last_seq = -1;
    std::string quantity, plan, meter, kind;
  };
  std::map<std::string, acc> per_charge;  // tenant|segment_start|kind|meter
  std::map<std::string, std::pair<int64_t, int64_t>> seqs;  // tenant|period -> (count, max)
  int64_t adjustments = 0;
  for (const auto& r : out) {
    if (r.kind != output_kind::charge && r.kind != output_kind::adjustment) continue;
    adjustments += r.kind == output_kind::adjustment;
    auto v = view(r);
    auto& a = per_charge[v["tenant"] + "|" + v["segment_start"] + "|" + v["kind"] + "|" + v["meter"]];
    a.sum = *a.sum.checked_add(dec(v["amount"]));
    int64_t seq = std::stoll(v["seq"]);
    if (seq > a.last_seq && v["kind"] == "usage") {
      a.last_seq = seq;
      a.quantity = v["segment_quantity"];
    }
    a.plan = v["plan"];
    a.meter = v["meter"];
    a.kind = v["kind"];
    auto& s = seqs[v["tenant"] + "|" + v["period_start"]];
    s.first += 1;
    s.second = std::max(s.second, seq);
  }
  ASSERT_GT(adjustments, 0) << "the input should contain late events";
  ASSERT_GT(per_charge.size(), 20u);
  for (const auto& [key, a] : per_charge) {
    if (a.kind != "usage") continue;
    const plan* p = cat->find_plan(a.plan);
    ASSERT_NE(p, nullptr);
    const charge* c = nullptr;
    for (const auto& ch : p->versions[0].charges)
      if (ch.type == charge_type::usage && ch.meter == a.meter) c = &ch;
    ASSERT_NE(c, nullptr) << key;
    auto expected = amount_of(*c, dec(a.quantity), 2, rounding_mode::half_even);
    ASSERT_OK(expected);
    EXPECT_EQ(a.sum, *expected) << key << " Q=" << a.quantity;
  }
  // seq counts 1..n without gaps per (tenant, period).
  for (const auto& [key, s] : seqs) EXPECT_EQ(s.first, s.second) << key;
  // Minimum: for every segment with one, usage + recurring + true-up >= the prorated floor, and
  // the true-up is zero whenever usage + recurring already reach the floor's 60.00 share.
  for (const auto& [key, a] : per_charge) {
    if (a.kind != "minimum") continue;
    EXPECT_FALSE(a.sum.is_negative()) << key;
  }
}

TEST_P(EnginePropertyTest, ReorderingWithinTheGraceChangesNoTotal) {
  auto cat = load_catalog();
  auto g = generate(GetParam(), 3000, 24 * 40);
  auto in_order = run(*make_engine(cat), g.events, true);

  // Shuffle inside blocks whose time span is below the grace (300 s): no event becomes late.
  std::vector<std::string> shuffled = g.events;
  std::mt19937_64 rng(GetParam() + 1);
  size_t begin = 0;
  while (begin < shuffled.size()) {
    size_t end = begin;
    while (end < shuffled.size() && g.times[end] - g.times[begin] < 299'000) ++end;
    std::shuffle(shuffled.begin() + static_cast<long>(begin), shuffled.begin() + static_cast<long>(end), rng);
    begin = end;
  }
  ASSERT_NE(shuffled, g.events);
  auto reordered_engine = make_engine(cat);
  auto reordered = run(*reordered_engine, shuffled, true);
  EXPECT_EQ(totals(reordered), totals(in_order));
  int adjustments = 0;
  for (const auto& r : reordered) adjustments += r.kind == output_kind::adjustment;
  EXPECT_EQ(adjustments, 0) << "reordering within the grace makes nothing late";
}

TEST_P(EnginePropertyTest, FeedingTheSameInputTwiceChangesNothing) {
  auto cat = load_catalog();
  auto g = generate(GetParam(), 2000, 24 * 10);
  auto e = make_engine(cat);
  auto first = run(*e, g.events, false);
  const auto after_first = e->counters();
  auto second = run(*e, g.events, false);
  const auto after_second = e->counters();
  // Accepted events and first-pass duplicates are duplicates now; dead letters repeat as such.
  EXPECT_EQ(after_second.accepted, after_first.accepted);
  EXPECT_EQ(after_second.duplicates - after_first.duplicates,
            after_first.accepted + after_first.duplicates);
  for (size_t i = 0; i < after_first.dead_letters.size(); ++i)
    EXPECT_EQ(after_second.dead_letters[i], 2 * after_first.dead_letters[i]) << "reason " << i;
  for (const auto& r : second)
    EXPECT_EQ(r.kind, output_kind::dead_letter) << "second pass emitted " << r.value;
  EXPECT_GT(after_first.accepted, 1000);
}

TEST_P(EnginePropertyTest, CheckpointAndRestoreGiveTheSameRecordsAsOneRun) {
  auto cat = load_catalog();
  auto g = generate(GetParam(), 3000, 24 * 40);
  std::mt19937_64 rng(GetParam() ^ 0xabc);
  for (size_t i = 1; i < g.events.size(); ++i)
    if (rng() % 10 == 0) std::swap(g.events[i], g.events[i - (rng() % std::min<size_t>(i, 40))]);
  auto whole = run(*make_engine(cat), g.events, true);

  // Restart from the store at several cut points, committing at random intervals between them.
  auto store = state::memory_store::create();
  std::vector<output_record> pieces;
  auto e = make_engine(cat);
  ASSERT_OK(e->restore(*store));
  for (size_t i = 0; i < g.events.size(); ++i) {
    e->process(g.events[i], wall, pieces);
    if (rng() % 97 == 0 || i + 1 == g.events.size()) {
      state::write_batch batch;
      e->checkpoint(batch);
      ASSERT_OK(store->write(batch));
      if (rng() % 3 == 0) {  // crash and restart right after the commit
        e = make_engine(cat);
        ASSERT_OK(e->restore(*store));
      }
    }
  }
  e->finish(pieces);
  ASSERT_EQ(pieces.size(), whole.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(pieces[i].value, whole[i].value) << "record " << i;
  }
  auto fresh = make_engine(cat);
  run(*fresh, g.events, false);
  EXPECT_EQ(e->counters().accepted, fresh->counters().accepted);
  EXPECT_EQ(e->counters().duplicates, fresh->counters().duplicates);
  EXPECT_EQ(e->counters().dead_letters, fresh->counters().dead_letters);
}

// What a checkpoint writes: every put's key and value, and the puts under a key prefix.
struct batch_view {
  std::vector<std::pair<std::string, std::string>> puts;
  bool any_put_contains(std::string_view text) const {
    for (const auto& [k, v] : puts)
      if (v.find(text) != std::string::npos) return true;
    return false;
  }
  int puts_with_prefix(char prefix) const {
    int n = 0;
    for (const auto& [k, v] : puts) n += !k.empty() && k[0] == prefix;
    return n;
  }
};

batch_view checkpoint_into(engine& e, state::kv_store& store) {
  state::write_batch batch;
  e.checkpoint(batch);
  batch_view view;
  for (const auto& op : batch.ops()) {
    EXPECT_NE(op.kind, state::write_batch::op_kind::del_range) << "a changelog has no range deletes";
    if (op.kind == state::write_batch::op_kind::put) view.puts.emplace_back(op.key, op.value);
  }
  EXPECT_OK(store.write(batch));
  return view;
}

// An engine without persistence (`meterflow rate --state memory`) keeps no change lists, and
// must emit exactly what a persisting engine does, over periods that expire and settle.
TEST_P(EnginePropertyTest, WithoutPersistenceTheRecordsAreTheSame) {
  auto cat = load_catalog();
  auto g = generate(GetParam(), 3000, 24 * 70);
  auto persisting = make_engine(cat);
  std::vector<output_record> with_store;
  auto store = state::memory_store::create();
  for (size_t i = 0; i < g.events.size(); ++i) {
    persisting->process(g.events[i], wall, with_store);
    if (i % 500 == 499) checkpoint_into(*persisting, *store);
  }
  persisting->finish(with_store);
  engine_options o;
  o.persist = false;
  auto memory_only = make_engine(cat, o);
  auto without = run(*memory_only, g.events, true);
  ASSERT_EQ(without.size(), with_store.size());
  for (size_t i = 0; i < with_store.size(); ++i)
    EXPECT_EQ(without[i].value, with_store[i].value) << "record " << i;
  EXPECT_EQ(memory_only->counters().accepted, persisting->counters().accepted);
  EXPECT_EQ(memory_only->counters().duplicates, persisting->counters().duplicates);
}

// process_batch() decodes records ahead of the one it applies; whatever the batch sizes, it must
// emit exactly what process() does record by record, dead letters included, and tell the sink
// which record each output belongs to.
TEST_P(EnginePropertyTest, BatchesGiveTheSameRecordsAsOneByOne) {
  auto cat = load_catalog();
  auto g = generate(GetParam(), 3000, 24 * 70);
  std::mt19937_64 rng(GetParam() + 7);
  for (size_t i = 0; i < g.events.size(); ++i) {  // dead letters of every kind among them
    if (i % 97 == 13) g.events[i] = "{not json";
    if (i % 89 == 5) g.events[i] = R"({"specversion":"1.0","id":"x)" + std::to_string(i) +
                                   R"(","source":"s","type":"call","subject":"nobody","time":"2026-03-02T00:00:00Z","data":{}})";
    if (i % 83 == 7 && i > 0) {  // the id of an earlier event with other data: a conflict
      std::string e = g.events[i - 1];
      if (auto at = e.find(R"("data":)"); at != std::string::npos) g.events[i] = e.substr(0, at) + R"("data":{"gb": 999}})";
    }
  }
  auto one_by_one = make_engine(cat);
  auto expected = run(*one_by_one, g.events, true);

  auto batched = make_engine(cat);
  std::vector<output_record> got;
  record_collector sink(got);
  std::vector<size_t> record_of;  // per output, the batch record it was emitted for
  size_t current = SIZE_MAX, base = 0;
  for (size_t at = 0; at < g.events.size();) {
    const size_t n = std::min<size_t>(g.events.size() - at, 1 + rng() % 40);
    std::vector<std::string_view> raws(g.events.begin() + static_cast<ptrdiff_t>(at),
                                       g.events.begin() + static_cast<ptrdiff_t>(at + n));
    base = at;
    batched->process_batch(raws, wall, sink, [&](size_t i) {
      EXPECT_TRUE(current == SIZE_MAX || base + i == current + 1) << "records out of order";
      while (record_of.size() < got.size()) record_of.push_back(current);
      current = base + i;
    });
    while (record_of.size() < got.size()) record_of.push_back(current);
    at += n;
  }
  batched->finish(got);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].kind, expected[i].kind) << "record " << i;
    EXPECT_EQ(got[i].key, expected[i].key) << "record " << i;
    EXPECT_EQ(got[i].value, expected[i].value) << "record " << i;
    EXPECT_EQ(got[i].error, expected[i].error) << "record " << i;
    if (got[i].kind == output_kind::dead_letter && i < record_of.size()) {
      EXPECT_EQ(got[i].value, g.events[record_of[i]]) << "dead letter " << i;
    }
  }
  EXPECT_EQ(batched->counters().accepted, one_by_one->counters().accepted);
  EXPECT_EQ(batched->counters().duplicates, one_by_one->counters().duplicates);
  EXPECT_EQ(batched->counters().dead_letters, one_by_one->counters().dead_letters);
  EXPECT_GT(one_by_one->counters().dead_letters[static_cast<int>(dead_letter_reason::invalid_json)], 0);
  EXPECT_GT(one_by_one->counters().dead_letters[static_cast<int>(dead_letter_reason::no_subscription)], 0);
  EXPECT_GT(one_by_one->counters().dead_letters[static_cast<int>(dead_letter_reason::idempotency_conflict)], 0);
}

// Dedup keys and segments leave the store once their period is past the settlement window, so
// state stays bounded without a dedup window shorter than the acceptance window.
TEST(EngineStateTest, ExpiredStateLeavesTheStore) {
  auto cat = load_catalog();
  engine_options o;
  o.settlement = millis(3'600'000);
  auto e = make_engine(cat, o);
  auto store = state::memory_store::create();
  auto g = generate(7, 4000, 24 * 75);  // March to mid-May
  auto count = [&](char prefix) {
    int n = 0;
    EXPECT_OK(store->scan_prefix(std::string(1, prefix), [&](std::string_view, std::string_view) {
      ++n;
      return true;
    }));
    return n;
  };
  std::vector<output_record> out;
  int max_dedup_blocks = 0, max_chunks = 0;
  for (size_t i = 0; i < g.events.size(); ++i) {
    e->process(g.events[i], wall, out);
    if (i % 200 == 199) {
      state::write_batch batch;
      e->checkpoint(batch);
      ASSERT_OK(store->write(batch));
      max_dedup_blocks = std::max(max_dedup_blocks, count('d'));
      max_chunks = std::max(max_chunks, count('c'));
    }
  }
  state::write_batch batch;
  e->checkpoint(batch);
  ASSERT_OK(store->write(batch));
  // Only the periods still open (May, and April within its settlement) keep keys.
  int live = 0;
  ASSERT_OK(store->scan_prefix("d", [&](std::string_view k, std::string_view) {
    ++live;
    EXPECT_GT(std::string(k).size(), 1u);
    return true;
  }));
  EXPECT_GT(max_dedup_blocks, live) << "expired dedup blocks were deleted";
  EXPECT_LE(count('s'), 3 * 6) << "segments of settled periods were deleted";
  EXPECT_GT(max_chunks, count('c')) << "delta chunks of settled segments were deleted";
  // Every delta chunk left belongs to a segment still stored: 'c' tenant start chunk(8 bytes).
  ASSERT_OK(store->scan_prefix("c", [&](std::string_view k, std::string_view) {
    std::string segment_key = "s" + std::string(k.substr(1, k.size() - 1 - 8));
    auto found = store->get(segment_key);
    EXPECT_TRUE(found.has_value() && found->has_value()) << "a chunk without its segment";
    return true;
  }));
  // A restore of what is left behaves like the engine that wrote it.
  auto restored = make_engine(cat, o);
  ASSERT_OK(restored->restore(*store));
  EXPECT_EQ(restored->counters().accepted, e->counters().accepted);
}

// The idle rule: a quiet partition still bills by the wall clock, and an event for a window the
// wall clock closed is late (an adjustment), while too_late keeps following event time.
TEST(EngineIdleCloseTest, WallClockClosesWindowsAndBillsQuietTenants) {
  auto cat = load_catalog();
  auto e = make_engine(cat);
  std::vector<output_record> out;
  auto event = [](std::string id, std::string time) {
    return R"({"specversion":"1.0","id":")" + id +
           R"(","source":"s","type":"call","subject":"t1","time":")" + time + R"("})";
  };
  e->process(event("a", "2026-03-05T10:15:00Z"), wall, out);
  ASSERT_TRUE(out.empty()) << "the window is still open";
  // Nothing more arrives; the wall clock passes the window end + grace.
  e->close_idle(timestamp{1'772'709'000'000}, out);  // 2026-03-05T11:10:00Z
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, output_kind::charge);
  EXPECT_NE(out[0].value.find(R"("window_start":"2026-03-05T10:00:00Z")"), std::string::npos);
  out.clear();
  // A straggler for that window is now late: an adjustment, not a second charge line.
  e->process(event("b", "2026-03-05T10:45:00Z"), wall, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, output_kind::adjustment) << out[0].value;
  out.clear();
  // Past the end of March + grace, t1's March segment is final and April's begins: recurring
  // and minimum lines without any event.
  e->close_idle(timestamp{1'775'002'200'000}, out);  // 2026-04-01T00:10:00Z
  int recurring = 0;
  for (const auto& r : out) recurring += r.value.find(R"("kind":"recurring")") != std::string::npos;
  EXPECT_GE(recurring, 1) << "quiet tenants still get their recurring fee";
  EXPECT_EQ(e->counters().dead_letters[static_cast<size_t>(dead_letter_reason::too_late)], 0);
}

// A plan change that arrives while its segment is running cuts the segment: no overlap, each
// stretch prorated once (t1: plan a 19.99 for 15 of 31 days, then plan b 35.00 for 16 of 31).
TEST(EngineSubscriptionTest, LivePlanChangeCutsTheRunningSegment) {
  auto cat = load_catalog();
  auto e = make_engine(cat);
  std::vector<output_record> out;
  auto event = [](std::string id, std::string time) {
    return R"({"specversion":"1.0","id":")" + id +
           R"(","source":"s","type":"transfer","subject":"t1","time":")" + time +
           R"(","data":{"gb":"1"}})";
  };
  e->process(event("a", "2026-03-05T10:00:00Z"), wall, out);
  auto change = parse_subscription(R"({"tenant": "t1", "plan": "b", "start": "2026-03-16T00:00:00Z"})");
  ASSERT_TRUE(change.has_value());
  ASSERT_TRUE(e->apply_subscription(*change).has_value());
  e->process(event("b", "2026-03-20T10:00:00Z"), wall, out);
  e->process(event("c", "2026-04-02T10:00:00Z"), wall, out);
  e->finish(out);
  std::map<std::string, std::string> recurring;  // segment_start -> amount (March only)
  for (const auto& r : out) {
    auto v = view(r);
    if (v["tenant"] == "t1" && v["kind"] == "recurring" && v["period_start"] == "2026-03-01T00:00:00Z")
      recurring[v["segment_start"] + "/" + v["segment_end"]] = v["amount"];
  }
  std::map<std::string, std::string> expected = {
      {"2026-03-01T00:00:00Z/2026-03-16T00:00:00Z", "9.67"},   // 19.99 x 15/31 = 9.6726
      {"2026-03-16T00:00:00Z/2026-04-01T00:00:00Z", "18.06"},  // 35 x 16/31 = 18.0645
  };
  EXPECT_EQ(recurring, expected);
}

// A meter event of tenant t1 (plan a), source "s".
std::string t1_event(const std::string& id, const std::string& type, const std::string& time,
                     const std::string& data) {
  return R"({"specversion":"1.0","id":")" + id + R"(","source":"s","type":")" + type +
         R"(","subject":"t1","time":")" + time + R"(","data":)" + data + "}";
}

// A restored engine fed `last_part` writes exactly what one uninterrupted engine fed all of
// `parts` writes after the `head` records it wrote before the restore.
std::vector<output_record> expect_restored_tail_matches(
    std::shared_ptr<const catalog> cat, state::kv_store& store,
    std::initializer_list<const std::vector<std::string>*> parts, size_t head) {
  auto restored = make_engine(cat);
  EXPECT_OK(restored->restore(store));
  std::vector<output_record> tail;
  for (const auto& ev : **(parts.end() - 1)) restored->process(ev, wall, tail);
  restored->finish(tail);
  auto whole_engine = make_engine(cat);
  std::vector<output_record> whole;
  for (const auto* part : parts)
    for (const auto& ev : *part) whole_engine->process(ev, wall, whole);
  whole_engine->finish(whole);
  EXPECT_EQ(head + tail.size(), whole.size());
  for (size_t i = 0; i < tail.size() && head + i < whole.size(); ++i)
    EXPECT_EQ(tail[i].value, whole[head + i].value) << "record " << i;
  return tail;
}

// unique_count sets and window results grow through a period: a checkpoint writes only what was
// added since the previous one (a delta chunk), never the whole set again, and a restore puts
// the chunks back together exactly.
TEST(EngineStateTest, CheckpointsWriteOnlyNewUniqueMembersAndWindowResults) {
  auto cat = load_catalog();
  const std::vector<std::string> before = {
      t1_event("l1", "login", "2026-03-05T10:10:00Z", R"({"user": "u-alpha"})"),
      t1_event("l2", "login", "2026-03-05T10:20:00Z", R"({"user": "u-beta"})"),
      t1_event("c1", "call", "2026-03-05T11:10:00Z", "{}"),  // closes the 10:00 window
  };
  const std::vector<std::string> between = {
      t1_event("l3", "login", "2026-03-05T12:10:00Z", R"({"user": "u-beta"})"),
      t1_event("l4", "login", "2026-03-05T12:20:00Z", R"({"user": "u-gamma"})"),
      t1_event("c2", "call", "2026-03-05T13:10:00Z", "{}"),  // closes the 12:00 window
  };
  const std::vector<std::string> after = {
      t1_event("l5", "login", "2026-03-05T14:10:00Z", R"({"user": "u-alpha"})"),
      t1_event("l6", "login", "2026-03-05T14:20:00Z", R"({"user": "u-delta"})"),
  };
  auto store = state::memory_store::create();
  auto e = make_engine(cat);
  ASSERT_OK(e->restore(*store));
  std::vector<output_record> pieces;
  for (const auto& ev : before) e->process(ev, wall, pieces);
  auto first = checkpoint_into(*e, *store);
  EXPECT_TRUE(first.any_put_contains("u-alpha"));
  EXPECT_TRUE(first.any_put_contains("u-beta"));
  EXPECT_EQ(first.puts_with_prefix('c'), 1) << "one delta chunk for t1's segment";

  for (const auto& ev : between) e->process(ev, wall, pieces);
  auto second = checkpoint_into(*e, *store);
  EXPECT_TRUE(second.any_put_contains("u-gamma"));
  EXPECT_FALSE(second.any_put_contains("u-alpha")) << "members already stored are not rewritten";
  EXPECT_FALSE(second.any_put_contains("u-beta")) << "members already stored are not rewritten";
  EXPECT_EQ(second.puts_with_prefix('c'), 1);

  auto nothing_new = checkpoint_into(*e, *store);
  EXPECT_EQ(nothing_new.puts_with_prefix('c'), 0) << "no change, no chunk";

  // A restored engine counts u-alpha as known (4 users in all, not 5).
  auto tail = expect_restored_tail_matches(cat, *store, {&before, &between, &after}, pieces.size());
  bool saw_four = false;
  for (const auto& r : tail) {
    auto v = view(r);
    if (v["meter"] == "users" && v["segment_quantity"] == "4") saw_four = true;
  }
  EXPECT_TRUE(saw_four) << "the restored segment's unique users";
}

// A window result changed by a late event after it was stored is written again, and the later
// chunk wins on restore.
TEST(EngineStateTest, ALateChangeToAStoredWindowResultIsRestored) {
  auto cat = load_catalog();
  auto sample = [](const std::string& id, const std::string& time, int v) {
    return t1_event(id, "sample", time, R"({"v": )" + std::to_string(v) + R"(, "vol": "v1"})");
  };
  const std::vector<std::string> first_part = {
      sample("a", "2026-03-05T10:10:00Z", 5),
      t1_event("c1", "call", "2026-03-05T11:10:00Z", "{}"),  // closes 10:00: max 5 stored
  };
  const std::vector<std::string> second_part = {
      sample("b", "2026-03-05T10:20:00Z", 9),  // late: the 10:00 result becomes 9
  };
  const std::vector<std::string> third_part = {
      sample("c", "2026-03-05T12:10:00Z", 1),
  };
  auto store = state::memory_store::create();
  auto e = make_engine(cat);
  std::vector<output_record> out;
  for (const auto& ev : first_part) e->process(ev, wall, out);
  checkpoint_into(*e, *store);
  for (const auto& ev : second_part) e->process(ev, wall, out);
  auto second = checkpoint_into(*e, *store);
  EXPECT_EQ(second.puts_with_prefix('c'), 1) << "the changed window result";

  expect_restored_tail_matches(cat, *store, {&first_part, &second_part, &third_part}, out.size());
}

// A dedup key past its expiry is gone at once, even while it still sits in the table waiting
// for a bulk sweep: the same id in a later period is a new event, not an idempotency conflict.
TEST(EngineDedupTest, AKeyPastItsExpiryIsNewAgain) {
  auto cat = load_catalog();
  engine_options o;
  o.settlement = millis(3'600'000);
  auto e = make_engine(cat, o);
  std::vector<output_record> out;
  e->process(t1_event("x", "call", "2026-03-10T10:00:00Z", "{}"), wall, out);
  // Many live April keys, so the one expired March key is not swept right away.
  for (int i = 0; i < 20; ++i)
    e->process(t1_event("a" + std::to_string(i), "call", "2026-04-01T00:30:00Z", "{}"), wall, out);
  e->process(t1_event("later", "call", "2026-04-01T02:00:00Z", "{}"), wall, out);  // March expires
  const auto accepted = e->counters().accepted;
  e->process(t1_event("x", "transfer", "2026-04-01T02:10:00Z", R"({"gb": "1"})"), wall, out);
  EXPECT_EQ(e->counters().accepted, accepted + 1);
  e->process(t1_event("x", "transfer", "2026-04-01T02:10:00Z", R"({"gb": "1"})"), wall, out);
  EXPECT_EQ(e->counters().duplicates, 1);
  EXPECT_EQ(e->counters().dead_letters[static_cast<size_t>(dead_letter_reason::idempotency_conflict)], 0);
  // While a key is live, other content under it is a conflict.
  e->process(t1_event("a3", "transfer", "2026-04-01T02:20:00Z", R"({"gb": "1"})"), wall, out);
  EXPECT_EQ(e->counters().dead_letters[static_cast<size_t>(dead_letter_reason::idempotency_conflict)], 1);
}

INSTANTIATE_TEST_SUITE_P(Seeds, EnginePropertyTest, testing::Values(1u, 2u, 3u, 42u, 1234u));

}  // namespace
}  // namespace meterflow
