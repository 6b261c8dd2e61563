// outbox: the records a task keeps, stores and sends to its changelog must come back byte for
// byte and in order, whether read where they were written or from chunks, and a damaged chunk
// must be refused instead of republishing garbage.
#include "processor/runtime/outbox.h"

#include <gtest/gtest.h>

#include <vector>

namespace meterflow::outbox {
namespace {

struct owned {
  output_kind kind;
  dead_letter_reason reason;
  int64_t source_offset;
  std::string key, value, error;
};

std::string charge_value(int i) {
  return R"({"record":"charge","id":"c-)" + std::to_string(i) + R"(","amount":"0.)" + std::to_string(i) + "\"}";
}

// Writes as the engine does: begin, append to the buffer it returns, end.
void write(record_buffer& b, output_kind kind, const std::string& key, const std::string& value) {
  b.begin(kind, key).append(value);
  b.end();
}

std::vector<owned> read_all(std::string_view raw, bool* ok = nullptr) {
  std::vector<owned> out;
  record_reader rd(raw);
  record_view r;
  while (rd.next(r))
    out.push_back({r.kind, r.reason, r.source_offset, std::string(r.key), std::string(r.value),
                   std::string(r.error)});
  if (ok) *ok = rd.ok();
  return out;
}

// 100 charges (offsets 1000..), a dead letter with a NUL and an empty key (offset 77), and an
// alert the wall clock caused (offset -1).
std::vector<owned> write_mixed(record_buffer& b) {
  std::vector<owned> expected;
  for (int i = 0; i < 100; ++i) {
    b.set_source_offset(1000 + i);
    const std::string key = "tenant-" + std::to_string(i % 7);
    write(b, output_kind::charge, key, charge_value(i));
    expected.push_back({output_kind::charge, dead_letter_reason::invalid_json, 1000 + i, key, charge_value(i), ""});
  }
  b.set_source_offset(77);
  const std::string raw("not json \0 with a NUL", 21);
  b.dead_letter(raw, "", dead_letter_reason::idempotency_conflict, "line 1: expected a value");
  expected.push_back({output_kind::dead_letter, dead_letter_reason::idempotency_conflict, 77, "", raw,
                      "line 1: expected a value"});
  b.set_source_offset(-1);
  write(b, output_kind::alert, "tenant-5", R"({"record":"alert"})");
  expected.push_back({output_kind::alert, dead_letter_reason::invalid_json, -1, "tenant-5", R"({"record":"alert"})", ""});
  return expected;
}

void expect_same(const std::vector<owned>& got, const std::vector<owned>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(got[i].kind, expected[i].kind);
    EXPECT_EQ(got[i].reason, expected[i].reason);
    EXPECT_EQ(got[i].source_offset, expected[i].source_offset);
    EXPECT_EQ(got[i].key, expected[i].key);
    EXPECT_EQ(got[i].value, expected[i].value);
    EXPECT_EQ(got[i].error, expected[i].error);
  }
}

TEST(OutboxRecords, ReadBackEveryKindInOrder) {
  record_buffer b;
  const auto expected = write_mixed(b);
  EXPECT_EQ(b.records(), expected.size());
  const std::string raw = b.take();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.records(), 0u);
  bool ok = false;
  expect_same(read_all(raw, &ok), expected);
  EXPECT_TRUE(ok);
}

TEST(OutboxRecords, BufferIsReusableAfterTake) {
  record_buffer b;
  b.set_source_offset(1);
  write(b, output_kind::charge, "t", charge_value(1));
  const std::string first = b.take();
  b.set_source_offset(2);
  write(b, output_kind::charge, "t", charge_value(2));
  write(b, output_kind::adjustment, "u", charge_value(3));
  const auto second = read_all(b.take());
  ASSERT_EQ(read_all(first).size(), 1u);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].source_offset, 2);
  EXPECT_EQ(second[1].kind, output_kind::adjustment);
  EXPECT_EQ(second[1].value, charge_value(3));
}

TEST(OutboxChunks, RoundTripThroughChunks) {
  record_buffer b;
  const auto expected = write_mixed(b);
  const std::string raw = b.take();
  std::vector<std::string> chunks;
  seal_chunks(raw, [&](std::string v) { chunks.push_back(std::move(v)); });
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_LT(chunks[0].size(), raw.size() / 4) << "repetitive records should compress";
  std::string back;
  auto n = decode_chunk(chunks[0], back);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, expected.size());
  EXPECT_EQ(back, raw);
  expect_same(read_all(back), expected);
}

TEST(OutboxChunks, CutAtRecordBoundariesPastTheRawLimit) {
  record_buffer b;
  std::vector<owned> expected;
  size_t total = 0;
  for (int i = 0; total < 3 * chunk_raw_bytes + 1000; ++i) {
    b.set_source_offset(i);
    write(b, output_kind::charge, "tenant", charge_value(i));
    expected.push_back({output_kind::charge, dead_letter_reason::invalid_json, i, "tenant", charge_value(i), ""});
    total += 10 + 4 + 6 + 4 + charge_value(i).size() + 4;
  }
  // A record larger than a whole chunk is never split: it ends the last chunk, whole.
  const std::string big(chunk_raw_bytes + 10, 'x');
  write(b, output_kind::charge, "tenant", big);
  expected.push_back({output_kind::charge, dead_letter_reason::invalid_json, expected.back().source_offset,
                      "tenant", big, ""});
  const std::string raw = b.take();
  std::vector<std::string> chunks;
  seal_chunks(raw, [&](std::string v) { chunks.push_back(std::move(v)); });
  EXPECT_EQ(chunks.size(), 4u);
  std::string back;
  size_t records = 0;
  for (const std::string& c : chunks) {
    const size_t before = back.size();
    auto n = decode_chunk(c, back);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_GT(*n, 0u);
    records += *n;
    EXPECT_LE(back.size() - before, chunk_raw_bytes + big.size() + 64);
  }
  EXPECT_EQ(records, expected.size());
  EXPECT_EQ(back, raw);
  expect_same(read_all(back), expected);
}

TEST(OutboxChunks, RefusesDamagedValuesAndLeavesTheBufferAlone) {
  record_buffer b;
  for (int i = 0; i < 10; ++i) write(b, output_kind::charge, "t", charge_value(i));
  std::vector<std::string> chunks;
  seal_chunks(b.take(), [&](std::string v) { chunks.push_back(std::move(v)); });
  ASSERT_EQ(chunks.size(), 1u);
  const std::string good = chunks[0];
  const std::string kept = "earlier bytes";
  std::string raw = kept;
  EXPECT_FALSE(decode_chunk("", raw));
  EXPECT_FALSE(decode_chunk(good.substr(0, good.size() - 3), raw));  // truncated frame
  std::string bad_size = good;
  bad_size[0] = static_cast<char>(bad_size[0] + 1);  // raw size that does not match the frame
  EXPECT_FALSE(decode_chunk(bad_size, raw));
  EXPECT_EQ(raw, kept);
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  // zstd frames carry no checksum by default; a flip inside the data may decode to other
  // bytes, but never to the same records.
  if (auto n = decode_chunk(flipped, raw)) {
    const auto got = read_all(std::string_view(raw).substr(kept.size()));
    bool same = got.size() == 10;
    for (size_t i = 0; same && i < got.size(); ++i) same = got[i].value == charge_value(static_cast<int>(i));
    EXPECT_FALSE(same);
  } else {
    EXPECT_EQ(raw, kept);
  }
}

TEST(OutboxRecords, ReaderStopsAtBytesThatAreNotRecords) {
  record_buffer b;
  write(b, output_kind::charge, "t", charge_value(1));
  std::string raw = b.take();
  bool ok = true;
  EXPECT_EQ(read_all(raw.substr(0, raw.size() - 1), &ok).size(), 0u);  // truncated
  EXPECT_FALSE(ok);
  std::string bad_kind = raw;
  bad_kind[0] = 9;
  EXPECT_EQ(read_all(bad_kind, &ok).size(), 0u);
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace meterflow::outbox
