// dedup_table: verdicts, expiry, sweeps and growth, checked against a plain std::map model.
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "topology/dedup_table.h"

namespace meterflow {
namespace {

using verdict = dedup_table::verdict;

hash128 h(uint64_t lo, uint64_t hi) { return hash128{lo, hi}; }

TEST(DedupTableTest, NewKeyIsInsertedThenADuplicateOrAConflict) {
  dedup_table t;
  EXPECT_EQ(t.insert(h(1, 2), h(10, 20), 1000, 0), verdict::inserted);
  EXPECT_EQ(t.insert(h(1, 2), h(10, 20), 1000, 0), verdict::duplicate);
  EXPECT_EQ(t.insert(h(1, 2), h(10, 20), 1, 0), verdict::duplicate);  // the first expiry stays
  EXPECT_EQ(t.insert(h(1, 2), h(uint64_t{11} << 32, 20), 1000, 0), verdict::conflict);
  EXPECT_EQ(t.insert(h(1, 2), h(10, 21), 1000, 0), verdict::conflict);
  EXPECT_EQ(t.insert(h(1, 3), h(10, 20), 1000, 0), verdict::inserted);
  EXPECT_EQ(t.size(), 2u);
}

TEST(DedupTableTest, OnlyTheUpper96FingerprintBitsAreCompared) {
  dedup_table t;
  ASSERT_EQ(t.insert(h(1, 2), h(0xAAAA'BBBB'0000'0001, 7), 1000, 0), verdict::inserted);
  EXPECT_EQ(t.insert(h(1, 2), h(0xAAAA'BBBB'FFFF'FFFF, 7), 1000, 0), verdict::duplicate);
  EXPECT_EQ(t.insert(h(1, 2), h(0xAAAA'BBBC'0000'0001, 7), 1000, 0), verdict::conflict);
}

TEST(DedupTableTest, AnEntryPastItsExpiryCountsAsAbsent) {
  dedup_table t;
  ASSERT_EQ(t.insert(h(1, 2), h(10, 20), 1000, 0), verdict::inserted);
  EXPECT_EQ(t.insert(h(1, 2), h(99, 99), 5000, 1000), verdict::conflict);  // not before now
  EXPECT_EQ(t.insert(h(1, 2), h(99, 99), 5000, 1001), verdict::inserted);  // replaced
  EXPECT_EQ(t.insert(h(1, 2), h(99, 99), 5000, 1001), verdict::duplicate);
  EXPECT_EQ(t.size(), 1u);
}

TEST(DedupTableTest, SweepRemovesExactlyTheExpiredEntries) {
  dedup_table t;
  for (uint64_t i = 0; i < 3000; ++i)
    ASSERT_EQ(t.insert(h(i * 0x9E37'79B9'7F4A'7C15, i << 40), h(i, i), i % 3 == 0 ? 100 : 200, 0),
              verdict::inserted);
  t.sweep(150);
  EXPECT_EQ(t.size(), 2000u);
  for (uint64_t i = 0; i < 3000; ++i) {
    // A swept key is new again, even when asked at a time before its old expiry.
    verdict expected = i % 3 == 0 ? verdict::inserted : verdict::duplicate;
    EXPECT_EQ(t.insert(h(i * 0x9E37'79B9'7F4A'7C15, i << 40), h(i, i), 300, 0), expected) << i;
  }
  // The expiry 100 was released by the sweep; a new expiry reuses its number without reviving
  // the swept entries' expiry.
  EXPECT_EQ(t.insert(h(5, 5), h(5, 5), 400, 0), verdict::inserted);
  EXPECT_EQ(t.insert(h(5, 5), h(5, 5), 400, 399), verdict::duplicate);
  EXPECT_EQ(t.insert(h(5, 5), h(6, 6), 400, 401), verdict::inserted);
}

// Keys in one shard (same top byte) and with nearby low words collide on their home slots and
// wrap around the end of the shard: every key must still be found through many growths.
TEST(DedupTableTest, CollidingKeysSurviveGrowth) {
  dedup_table t;
  const uint64_t top = uint64_t{0x42} << 56;
  for (uint64_t i = 0; i < 3000; ++i)
    ASSERT_EQ(t.insert(h(~uint64_t{0} - i, top | i), h(0, i), 1, 0), verdict::inserted) << i;
  for (uint64_t i = 0; i < 3000; ++i) {
    ASSERT_EQ(t.insert(h(~uint64_t{0} - i, top | i), h(0, i), 1, 0), verdict::duplicate) << i;
    ASSERT_EQ(t.insert(h(~uint64_t{0} - i, top | i), h(0, i + 1), 1, 0), verdict::conflict) << i;
  }
  EXPECT_EQ(t.size(), 3000u);
}

// reserve() rebuilds shards that already hold keys (restored state, or a hint given late): every
// key keeps its verdicts, through later growth past the reservation and a sweep under it.
TEST(DedupTableTest, ReservingKeepsEveryKeyAndItsVerdicts) {
  dedup_table t;
  // The first 3000 in one shard on colliding home slots (as above), the rest spread.
  const uint64_t top = uint64_t{0x42} << 56;
  auto key = [&](uint64_t i) {
    return i < 3000 ? h(~uint64_t{0} - i, top | i)
                    : h(i * 0x9E37'79B9'7F4A'7C15, i * 0xC2B2'AE3D'27D4'EB4F);
  };
  for (uint64_t i = 0; i < 3000; ++i)
    ASSERT_EQ(t.insert(key(i), h(0, i), i % 3 == 0 ? 100 : 200, 0), verdict::inserted) << i;
  t.reserve(1'000'000);  // 5,334 slots a shard: more than the 3000 keys' shard has
  t.reserve(10);  // never shrinks
  for (uint64_t i = 0; i < 3000; ++i) {
    ASSERT_EQ(t.insert(key(i), h(0, i), 200, 0), verdict::duplicate) << i;
    ASSERT_EQ(t.insert(key(i), h(0, i + 1), 200, 0), verdict::conflict) << i;
  }
  for (uint64_t i = 3000; i < 60'000; ++i)
    ASSERT_EQ(t.insert(key(i), h(0, i), 200, 0), verdict::inserted) << i;
  EXPECT_EQ(t.size(), 60'000u);
  t.sweep(150);
  EXPECT_EQ(t.size(), 59'000u);
  for (uint64_t i = 0; i < 60'000; ++i) {
    verdict expected = i < 3000 && i % 3 == 0 ? verdict::inserted : verdict::duplicate;
    ASSERT_EQ(t.insert(key(i), h(0, i), 200, 0), expected) << i;
  }
}

// Random operations against a model: inserts with a moving clock, sweeps now and then.
TEST(DedupTableTest, RandomOperationsMatchAModel) {
  std::mt19937_64 rng(7);
  dedup_table t;
  struct entry { hash128 fingerprint; int64_t expires; };
  std::map<std::pair<uint64_t, uint64_t>, entry> model;
  int64_t now = 0;
  for (int op = 0; op < 200000; ++op) {
    now += static_cast<int64_t>(rng() % 3);
    if (rng() % 20000 == 0) {
      t.sweep(now);
      std::erase_if(model, [&](const auto& kv) { return kv.second.expires < now; });
      ASSERT_EQ(t.size(), model.size());
      continue;
    }
    // Few distinct keys and fingerprints so that duplicates, conflicts and expiries all happen.
    hash128 key{rng() % 5000, (rng() % 4) << 62};
    hash128 fingerprint{(rng() % 2) << 32, 0};
    int64_t expires = now + static_cast<int64_t>(rng() % 2000);
    auto it = model.find({key.lo, key.hi});
    verdict expected = verdict::inserted;
    if (it != model.end() && it->second.expires >= now)
      expected = it->second.fingerprint == fingerprint ? verdict::duplicate : verdict::conflict;
    ASSERT_EQ(t.insert(key, fingerprint, expires, now), expected) << op;
    if (expected == verdict::inserted) model[{key.lo, key.hi}] = entry{fingerprint, expires};
  }
}

}  // namespace
}  // namespace meterflow
