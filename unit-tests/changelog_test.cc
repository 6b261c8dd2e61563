// changelog::applier: what restores and standbys write into a task store from its changelog.
#include "processor/runtime/changelog.h"

#include <gtest/gtest.h>

#include <map>

#include "state/memory_store.h"

namespace meterflow::changelog {
namespace {

std::map<std::string, std::string> contents(state::kv_store& s) {
  std::map<std::string, std::string> m;
  EXPECT_TRUE(s.scan_prefix("", [&](std::string_view k, std::string_view v) {
    m.emplace(k, v);
    return true;
  }));
  return m;
}

std::string meta(int64_t seq) { return encode_meta({seq, 100 + seq, 7}); }

// Feeds (key, value) records from `offset` on; a value "~" is a tombstone.
void feed(applier& a, int64_t offset, std::initializer_list<std::pair<std::string, std::string>> records) {
  for (const auto& [k, v] : records) {
    std::optional<std::string_view> value;
    if (v != "~") value = v;
    ASSERT_TRUE(a.apply(offset++, k, value));
  }
}

TEST(ChangelogApplier, WritesCompleteBatchesWithTheirPosition) {
  auto store = state::memory_store::create();
  applier a(*store);
  feed(a, 0, {{"w1", "a"}, {"w2", "b"}, {meta_key, meta(1)}});
  feed(a, 3, {{"w1", "~"}, {"w3", "c"}});  // no metadata record yet: held back
  EXPECT_TRUE(a.holds_partial_batch());
  auto m = contents(*store);
  EXPECT_EQ(m.count("w1"), 1u);
  EXPECT_EQ(m.count("w3"), 0u);
  EXPECT_EQ(*read_position(*store).value(), 3);
  EXPECT_EQ(*read_commit_seq(*store).value(), 1);

  feed(a, 5, {{meta_key, meta(2)}});
  m = contents(*store);
  EXPECT_EQ(m.count("w1"), 0u);
  EXPECT_EQ(m.at("w3"), "c");
  EXPECT_EQ(*read_position(*store).value(), 6);
  EXPECT_EQ(*read_commit_seq(*store).value(), 2);
  EXPECT_EQ(a.batches(), 2);
  EXPECT_EQ(a.records(), 6);
}

TEST(ChangelogApplier, ASnapshotReplacesEverythingAtomically) {
  auto store = state::memory_store::create();
  applier a(*store);
  feed(a, 0, {{"old", "x"}, {"kept", "1"}, {meta_key, meta(1)}});
  feed(a, 3, {{"partial", "y"}});  // an interrupted batch, superseded by the snapshot
  feed(a, 4, {{snapshot_key, "1"}, {"kept", "2"}});
  EXPECT_EQ(contents(*store).at("old"), "x");  // nothing changes before the snapshot completes
  feed(a, 6, {{meta_key, meta(5)}});
  auto m = contents(*store);
  EXPECT_EQ(m.count("old"), 0u);
  EXPECT_EQ(m.count("partial"), 0u);
  EXPECT_EQ(m.at("kept"), "2");
  EXPECT_EQ(*read_position(*store).value(), 7);
  EXPECT_TRUE(a.saw_snapshot());
}

TEST(ChangelogApplier, FromSnapshotOnlySkipsTheTruncatedHead) {
  auto store = state::memory_store::create();
  applier a(*store, /*from_snapshot_only=*/true);
  feed(a, 40, {{"tail-of-old-batch", "z"}, {meta_key, meta(3)}});
  EXPECT_TRUE(contents(*store).empty());
  EXPECT_FALSE(a.saw_snapshot());
  feed(a, 42, {{snapshot_key, "3"}, {"k", "v"}, {meta_key, meta(3)}});
  auto m = contents(*store);
  EXPECT_EQ(m.count("tail-of-old-batch"), 0u);
  EXPECT_EQ(m.at("k"), "v");
  EXPECT_EQ(*read_position(*store).value(), 45);
}

TEST(ChangelogApplier, NeverTakesAPositionFromTheChangelog) {
  auto store = state::memory_store::create();
  applier a(*store);
  feed(a, 0, {{position_key, "bogus"}, {meta_key, meta(1)}});
  EXPECT_EQ(*read_position(*store).value(), 2);
}

TEST(ChangelogMeta, RoundTripsAndRejectsGarbage) {
  auto m = decode_meta(encode_meta({3, 42, 9}));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->commit_seq, 3);
  EXPECT_EQ(m->next_offset, 42);
  EXPECT_EQ(m->outbox_seq, 9);
  EXPECT_FALSE(decode_meta("short"));
  EXPECT_FALSE(decode_meta(encode_meta({1, 2, 3}) + "x"));
}

}  // namespace
}  // namespace meterflow::changelog
