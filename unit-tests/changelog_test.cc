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

// Feeds (key, value) records of `writer` from `offset` on; a value "~" is a tombstone.
void feed(applier& a, int64_t offset, std::initializer_list<std::pair<std::string, std::string>> records,
          writer_id writer = 0) {
  for (const auto& [k, v] : records) {
    std::optional<std::string_view> value;
    if (v != "~") value = v;
    ASSERT_TRUE(a.apply(offset++, writer, k, value));
  }
}

// One record of `writer` at `offset`.
void feed1(applier& a, int64_t offset, writer_id writer, const std::string& key, const std::string& value) {
  ASSERT_TRUE(a.apply(offset, writer, key, value));
}

int64_t position_offset(state::kv_store& s) { return read_position(s).value()->offset; }

TEST(ChangelogApplier, WritesCompleteBatchesWithTheirPosition) {
  auto store = state::memory_store::create();
  applier a(*store, false, 0);
  feed(a, 0, {{"w1", "a"}, {"w2", "b"}, {meta_key, meta(1)}});
  feed(a, 3, {{"w1", "~"}, {"w3", "c"}});  // no metadata record yet: held back
  EXPECT_TRUE(a.holds_partial_batch());
  auto m = contents(*store);
  EXPECT_EQ(m.count("w1"), 1u);
  EXPECT_EQ(m.count("w3"), 0u);
  EXPECT_EQ(position_offset(*store), 3);
  EXPECT_EQ(*read_commit_seq(*store).value(), 1);

  feed(a, 5, {{meta_key, meta(2)}});
  m = contents(*store);
  EXPECT_EQ(m.count("w1"), 0u);
  EXPECT_EQ(m.at("w3"), "c");
  EXPECT_EQ(position_offset(*store), 6);
  EXPECT_EQ(*read_commit_seq(*store).value(), 2);
  EXPECT_EQ(a.batches(), 2);
  EXPECT_EQ(a.records(), 6);
}

TEST(ChangelogApplier, ASnapshotReplacesEverythingAtomically) {
  auto store = state::memory_store::create();
  applier a(*store, false, 0);
  feed(a, 0, {{"old", "x"}, {"kept", "1"}, {meta_key, meta(1)}});
  feed(a, 3, {{"partial", "y"}});  // an interrupted batch, superseded by the snapshot
  feed(a, 4, {{snapshot_key, "1"}, {"kept", "2"}});
  EXPECT_EQ(contents(*store).at("old"), "x");  // nothing changes before the snapshot completes
  feed(a, 6, {{meta_key, meta(5)}});
  auto m = contents(*store);
  EXPECT_EQ(m.count("old"), 0u);
  EXPECT_EQ(m.count("partial"), 0u);
  EXPECT_EQ(m.at("kept"), "2");
  EXPECT_EQ(position_offset(*store), 7);
  EXPECT_TRUE(a.saw_snapshot());
}

TEST(ChangelogApplier, FromSnapshotOnlySkipsTheTruncatedHead) {
  auto store = state::memory_store::create();
  applier a(*store, /*from_snapshot_only=*/true, 0);
  feed(a, 40, {{"tail-of-old-batch", "z"}, {meta_key, meta(3)}});
  EXPECT_TRUE(contents(*store).empty());
  EXPECT_FALSE(a.saw_snapshot());
  feed(a, 42, {{snapshot_key, "3"}, {"k", "v"}, {meta_key, meta(3)}});
  auto m = contents(*store);
  EXPECT_EQ(m.count("tail-of-old-batch"), 0u);
  EXPECT_EQ(m.at("k"), "v");
  EXPECT_EQ(position_offset(*store), 45);
}

TEST(ChangelogApplier, NeverTakesAPositionFromTheChangelog) {
  auto store = state::memory_store::create();
  applier a(*store, false, 0);
  feed(a, 0, {{position_key, "bogus"}, {meta_key, meta(1)}});
  EXPECT_EQ(position_offset(*store), 2);
}

// Two owners write at once: A was evicted without knowing, B claimed the task. Their records
// interleave; only the latest claimant's count, and A's batch is ignored even though it
// completes after B's claim.
TEST(ChangelogApplier, OnlyTheLatestClaimantsRecordsCount) {
  const writer_id A = 0xA, B = 0xB;
  auto store = state::memory_store::create();
  applier a(*store, false, 0);
  feed1(a, 0, A, claim_key, encode_writer(A));
  feed(a, 1, {{"n", "1"}, {meta_key, meta(1)}}, A);
  feed(a, 3, {{"n", "2"}}, A);                 // A's next batch starts...
  feed1(a, 4, B, claim_key, encode_writer(B));  // ...B claims (it restored up to here: n=1)
  feed(a, 5, {{"n", "2-by-B"}}, B);
  feed(a, 6, {{"a-only", "x"}, {meta_key, meta(2)}}, A);  // A's batch completes: fenced
  EXPECT_EQ(contents(*store).at("n"), "1");
  EXPECT_EQ(contents(*store).count("a-only"), 0u);
  feed(a, 8, {{meta_key, meta(2)}}, B);
  auto m = contents(*store);
  EXPECT_EQ(m.at("n"), "2-by-B");
  EXPECT_EQ(m.count("a-only"), 0u);
  auto at = read_position(*store).value();
  ASSERT_TRUE(at);
  EXPECT_EQ(at->offset, 9);
  EXPECT_EQ(at->writer, B);
  EXPECT_EQ(at->commit_seq, 2);
  feed(a, 9, {{"n", "3"}, {meta_key, meta(3)}}, A);  // A keeps writing: still ignored
  EXPECT_EQ(contents(*store).at("n"), "2-by-B");
}

TEST(ChangelogApplier, AClaimDropsThePreviousOwnersIncompleteBatch) {
  const writer_id A = 1, B = 2;
  auto store = state::memory_store::create();
  applier a(*store, false, A);
  feed(a, 10, {{"k", "partial"}}, A);
  feed1(a, 11, B, claim_key, encode_writer(B));
  feed(a, 12, {{meta_key, meta(4)}}, B);
  EXPECT_EQ(contents(*store).count("k"), 0u);
  EXPECT_EQ(read_commit_seq(*store).value(), 4);
}

TEST(ChangelogApplier, ResumesWithThePositionsWriter) {
  const writer_id A = 7, B = 8;
  auto store = state::memory_store::create();
  applier a(*store, false, B);  // resumed at a position after B's claim
  feed(a, 20, {{"k", "from-A"}, {meta_key, meta(1)}}, A);
  EXPECT_FALSE(read_commit_seq(*store).value());
  feed(a, 22, {{"k", "from-B"}, {meta_key, meta(1)}}, B);
  EXPECT_EQ(contents(*store).at("k"), "from-B");
}

TEST(ChangelogApplier, ReportsWhetherAWatchedBatchWasApplied) {
  const writer_id A = 3, B = 4;
  auto store = state::memory_store::create();
  applier a(*store, false, A);
  a.watch(A, 2);
  feed(a, 0, {{meta_key, meta(1)}}, A);
  EXPECT_FALSE(a.watched_applied());
  feed1(a, 1, B, claim_key, encode_writer(B));
  feed(a, 2, {{meta_key, meta(2)}}, A);  // A's commit 2 lands after B's claim: not applied
  EXPECT_FALSE(a.watched_applied());
  applier b(*store, false, A);
  b.watch(A, 2);
  feed(b, 0, {{meta_key, meta(1)}, {meta_key, meta(2)}}, A);
  EXPECT_TRUE(b.watched_applied());
}

TEST(ChangelogApplier, FromSnapshotOnlyAdoptsTheSnapshotsWriter) {
  // Retention took the claim with the older records; the first snapshot's writer counts.
  const writer_id A = 5;
  auto store = state::memory_store::create();
  applier a(*store, /*from_snapshot_only=*/true, 0);
  feed(a, 50, {{snapshot_key, "3"}, {"k", "v"}, {meta_key, meta(3)}}, A);
  EXPECT_EQ(contents(*store).at("k"), "v");
  EXPECT_EQ(read_position(*store).value()->writer, A);
}

TEST(ChangelogPosition, RoundTripsAndIgnoresTheOldFormat) {
  auto store = state::memory_store::create();
  EXPECT_FALSE(read_position(*store).value());
  ASSERT_TRUE(write_position(*store, {12, 99, 4}));
  auto at = read_position(*store).value();
  ASSERT_TRUE(at);
  EXPECT_EQ(at->offset, 12);
  EXPECT_EQ(at->writer, 99u);
  EXPECT_EQ(at->commit_seq, 4);
  state::write_batch old;
  old.put(position_key, std::string(8, '\1'));  // offset only, before writers existed
  ASSERT_TRUE(store->write(old));
  EXPECT_FALSE(read_position(*store).value());
}

TEST(ChangelogWriter, IdsAreNonZeroAndDistinct) {
  writer_id a = new_writer_id(), b = new_writer_id();
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
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
