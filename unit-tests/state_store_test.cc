// The kv_store contract, run against every implementation (TYPED_TEST), plus what only the
// RocksDB store has (a directory on disk that outlives the object) and what only write_behind
// has (writes held, merged, and applied to the store behind in whole batches).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "state/kv_store.h"
#include "state/memory_store.h"
#include "state/rocksdb_store.h"
#include "state/write_behind.h"
#include "unit-tests/test_util.h"

namespace meterflow::state {
namespace {

using namespace std::string_literals;
namespace fs = std::filesystem;

// A fresh directory under the test temp dir, removed with everything in it on destruction.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    const fs::path base = ::testing::TempDir();
    std::random_device random;
    for (;;) {
      path_ = base / ("meterflow-state-test-" + std::to_string(::getpid()) + "-" +
                      std::to_string(counter++) + "-" + std::to_string(random()));
      std::error_code ec;
      if (fs::create_directories(path_, ec)) break;
      if (ec) {
        throw std::runtime_error("temp_dir: cannot create " + path_.string() + ": " + ec.message());
      }
    }
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);  // best effort: a leftover temp dir must not fail a test
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// How each implementation is made for a test.
template <class Store>
struct store_maker;

template <>
struct store_maker<memory_store> {
  static result<std::unique_ptr<kv_store>> make(const fs::path&) { return memory_store::create(); }
};

template <>
struct store_maker<rocksdb_store> {
  static result<std::unique_ptr<kv_store>> make(const fs::path& dir) {
    rocksdb_options options;
    options.path = (dir / "db").string();
    options.write_buffer_bytes = 4u << 20;  // keep tests light
    options.block_cache_bytes = 8u << 20;
    auto store = rocksdb_store::open(options);
    if (!store) return std::unexpected(std::move(store.error()));
    return std::unique_ptr<kv_store>(std::move(*store));
  }
};

// write_behind over a memory_store, holding writes as long as the limits allow: the contract
// holds because every read writes the held writes first.
class held_memory_store final : public kv_store {
 public:
  held_memory_store() : inner_(memory_store::create()), held_(*inner_, {std::chrono::hours(1), 64u << 20}) {}
  result<std::optional<std::string>> get(std::string_view key) override { return held_.get(key); }
  result<void> write(const write_batch& batch) override { return held_.write(batch); }
  result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) override {
    return held_.scan_prefix(prefix, fn);
  }
  result<void> sync() override { return held_.sync(); }

 private:
  std::unique_ptr<memory_store> inner_;
  write_behind held_;
};

template <>
struct store_maker<held_memory_store> {
  static result<std::unique_ptr<kv_store>> make(const fs::path&) {
    return std::unique_ptr<kv_store>(std::make_unique<held_memory_store>());
  }
};

template <class Store>
class KvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = store_maker<Store>::make(dir_.path());
    ASSERT_OK(made);
    store_ = std::move(*made);
  }

  // The value under `key`, "<absent>" when there is none, "<error: …>" on failure.
  std::string value_of(std::string_view key) {
    auto r = store_->get(key);
    if (!r) return "<error: " + r.error().message + ">";
    return r->has_value() ? **r : "<absent>";
  }

  std::vector<std::pair<std::string, std::string>> scan(std::string_view prefix) {
    std::vector<std::pair<std::string, std::string>> seen;
    auto r = store_->scan_prefix(prefix, [&](std::string_view k, std::string_view v) {
      seen.emplace_back(std::string(k), std::string(v));
      return true;
    });
    EXPECT_OK(r);
    return seen;
  }

  void put_all(const std::vector<std::pair<std::string, std::string>>& kvs) {
    write_batch batch;
    for (const auto& [k, v] : kvs) batch.put(k, v);
    ASSERT_OK(store_->write(batch));
  }

  temp_dir dir_;                     // declared first: outlives the store
  std::unique_ptr<kv_store> store_;
};

using store_types = ::testing::Types<memory_store, rocksdb_store, held_memory_store>;
class store_type_names {
 public:
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, memory_store>) return "memory";
    else if constexpr (std::is_same_v<T, rocksdb_store>) return "rocksdb";
    else return "write_behind";
  }
};
TYPED_TEST_SUITE(KvStoreTest, store_types, store_type_names);

TYPED_TEST(KvStoreTest, GetOfMissingKeyIsAbsent) {
  auto r = this->store_->get("nope");
  ASSERT_OK(r);
  EXPECT_FALSE(r->has_value());
}

TYPED_TEST(KvStoreTest, PutThenGet) {
  write_batch batch;
  batch.put("tenant/1", "42");
  ASSERT_OK(this->store_->write(batch));
  EXPECT_EQ(this->value_of("tenant/1"), "42");
  EXPECT_EQ(this->value_of("tenant/2"), "<absent>");
}

TYPED_TEST(KvStoreTest, OverwriteReplacesValue) {
  this->put_all({{"k", "old"}});
  this->put_all({{"k", "new"}});
  EXPECT_EQ(this->value_of("k"), "new");
}

TYPED_TEST(KvStoreTest, DeleteRemovesKeyAndDeletingMissingKeyIsFine) {
  this->put_all({{"k", "v"}, {"other", "w"}});
  write_batch batch;
  batch.del("k");
  batch.del("never-written");
  ASSERT_OK(this->store_->write(batch));
  EXPECT_EQ(this->value_of("k"), "<absent>");
  EXPECT_EQ(this->value_of("other"), "w");
}

TYPED_TEST(KvStoreTest, EmptyBatchIsANoOp) {
  this->put_all({{"k", "v"}});
  ASSERT_OK(this->store_->write(write_batch{}));
  EXPECT_EQ(this->value_of("k"), "v");
}

TYPED_TEST(KvStoreTest, OpsInABatchApplyInOrder) {
  this->put_all({{"was-there", "1"}});
  write_batch batch;
  batch.put("put-then-del", "x");
  batch.del("put-then-del");
  batch.del("del-then-put");
  batch.put("del-then-put", "y");
  batch.put("put-twice", "first");
  batch.put("put-twice", "second");
  batch.del("was-there");
  batch.put("was-there", "2");
  ASSERT_OK(this->store_->write(batch));
  EXPECT_EQ(this->value_of("put-then-del"), "<absent>");
  EXPECT_EQ(this->value_of("del-then-put"), "y");
  EXPECT_EQ(this->value_of("put-twice"), "second");
  EXPECT_EQ(this->value_of("was-there"), "2");
}

TYPED_TEST(KvStoreTest, DelRangeRemovesBeginKeepsEnd) {
  this->put_all({{"k1", "1"},
                 {"k1\xff", "1+"},
                 {"k2", "2"},
                 {"k2\0"s, "2+"},
                 {"k3", "3"},
                 {"k3\xff\xff", "3+"},
                 {"k4", "4"},
                 {"k5", "5"}});
  write_batch batch;
  batch.del_range("k2", "k4");
  ASSERT_OK(this->store_->write(batch));
  EXPECT_EQ(this->value_of("k1"), "1");
  EXPECT_EQ(this->value_of("k1\xff"), "1+");
  EXPECT_EQ(this->value_of("k2"), "<absent>");  // begin: included
  EXPECT_EQ(this->value_of("k2\0"s), "<absent>");
  EXPECT_EQ(this->value_of("k3"), "<absent>");
  EXPECT_EQ(this->value_of("k3\xff\xff"), "<absent>");
  EXPECT_EQ(this->value_of("k4"), "4");  // end: excluded
  EXPECT_EQ(this->value_of("k5"), "5");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"k1", "1"}, {"k1\xff", "1+"}, {"k4", "4"}, {"k5", "5"}};
  EXPECT_EQ(this->scan("k"), expected);
}

TYPED_TEST(KvStoreTest, DelRangeThenPutInsideItInOneBatchKeepsThePut) {
  this->put_all({{"w/1", "a"}, {"w/2", "b"}});
  write_batch batch;
  batch.put("w/3", "c");
  batch.del_range("w/", "w0");
  batch.put("w/2", "fresh");
  ASSERT_OK(this->store_->write(batch));
  EXPECT_EQ(this->value_of("w/1"), "<absent>");
  EXPECT_EQ(this->value_of("w/2"), "fresh");
  EXPECT_EQ(this->value_of("w/3"), "<absent>");
}

// A store may apply a batch in another order than it was built (RocksDB sorts point operations
// by key between range deletes); what it leaves must be what applying the operations one by one
// leaves. Large random batches with repeated keys and range deletes amid them, several in a row
// (a later, smaller batch must carry nothing over from an earlier one), against a std::map.
TYPED_TEST(KvStoreTest, LargeShuffledBatchesLeaveWhatSequentialApplicationLeaves) {
  std::mt19937 rng(20261203);
  std::map<std::string, std::string> model;
  auto key = [&] {
    std::string k = "k";
    k += std::to_string(rng() % 3000);
    return k;
  };
  for (int round = 0; round < 4; ++round) {
    write_batch batch;
    const int ops = round == 3 ? 50 : 20'000 - round * 5'000;
    for (int i = 0; i < ops; ++i) {
      const unsigned kind = rng() % 100;
      if (kind < 70) {
        std::string k = key(), v = std::to_string(round) + "/" + std::to_string(i);
        model[k] = v;
        batch.put(k, v);
      } else if (kind < 98) {
        std::string k = key();
        model.erase(k);
        batch.del(k);
      } else {
        std::string a = key(), b = key();
        if (b < a) std::swap(a, b);
        model.erase(model.lower_bound(a), model.lower_bound(b));
        batch.del_range(a, b);
      }
    }
    ASSERT_OK(this->store_->write(batch));
    const std::vector<std::pair<std::string, std::string>> expected(model.begin(), model.end());
    ASSERT_EQ(this->scan(""), expected) << "after batch " << round;
  }
}

TYPED_TEST(KvStoreTest, EmptyOrInvertedDelRangeRemovesNothing) {
  this->put_all({{"a", "1"}, {"b", "2"}, {"c", "3"}});
  write_batch batch;
  batch.del_range("b", "b");
  batch.del_range("c", "a");
  ASSERT_OK(this->store_->write(batch));
  EXPECT_EQ(this->scan("").size(), 3u);
}

TYPED_TEST(KvStoreTest, ScanPrefixVisitsMatchingKeysInBytewiseOrder) {
  // Written out of order; 0xff must sort after every ASCII byte (unsigned comparison).
  this->put_all({{"b", "-"}, {"a\xff", "4"}, {"ab", "3"}, {"a", "1"}, {"a\x01", "2"}, {"", "-"}});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"a", "1"}, {"a\x01", "2"}, {"ab", "3"}, {"a\xff", "4"}};
  EXPECT_EQ(this->scan("a"), expected);
}

TYPED_TEST(KvStoreTest, ScanPrefixDoesNotLeakPastThePrefix) {
  this->put_all({{"a\xff", "1"}, {"a\xff\xff", "2"}, {"b", "3"}, {"\xff", "4"}, {"\xff\x00"s, "5"}});
  const std::vector<std::pair<std::string, std::string>> a_ff = {{"a\xff", "1"},
                                                                 {"a\xff\xff", "2"}};
  EXPECT_EQ(this->scan("a\xff"), a_ff);
  EXPECT_EQ(this->scan("a").size(), 2u);
  // No key bounds an all-0xff prefix from above: the scan must still stop at the data's end.
  const std::vector<std::pair<std::string, std::string>> ff = {{"\xff", "4"}, {"\xff\x00"s, "5"}};
  EXPECT_EQ(this->scan("\xff"), ff);
  EXPECT_TRUE(this->scan("c").empty());
  EXPECT_TRUE(this->scan("a\xff\xff\xff").empty());
}

TYPED_TEST(KvStoreTest, ScanWithEmptyPrefixVisitsEverything) {
  this->put_all({{"x", "1"}, {"\0"s, "0"}, {"\xff", "2"}});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"\0"s, "0"}, {"x", "1"}, {"\xff", "2"}};
  EXPECT_EQ(this->scan(""), expected);
}

TYPED_TEST(KvStoreTest, ScanStopsWhenTheCallbackReturnsFalse) {
  this->put_all({{"p/1", "1"}, {"p/2", "2"}, {"p/3", "3"}});
  std::vector<std::string> seen;
  ASSERT_OK(this->store_->scan_prefix("p/", [&](std::string_view k, std::string_view) {
    seen.emplace_back(k);
    return seen.size() < 2;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"p/1", "p/2"}));
}

TYPED_TEST(KvStoreTest, BinaryKeysAndValuesKeepNulBytes) {
  const std::string key = "id\0\x01\0"s;
  const std::string value = "\0\0amount\0\xff"s;
  this->put_all({{key, value}, {"id"s, "short"}, {"id\0"s, "nul"}});
  EXPECT_EQ(this->value_of(key), value);
  EXPECT_EQ(this->value_of("id"), "short");
  EXPECT_EQ(this->value_of("id\0"s), "nul");
  EXPECT_EQ(this->value_of("id\0\x01"s), "<absent>");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"id\0"s, "nul"}, {key, value}};
  EXPECT_EQ(this->scan("id\0"s), expected);
}

TYPED_TEST(KvStoreTest, EmptyValueIsPresentNotAbsent) {
  this->put_all({{"empty", ""}});
  auto r = this->store_->get("empty");
  ASSERT_OK(r);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(**r, "");
  EXPECT_EQ(this->scan("empty").size(), 1u);
}

TYPED_TEST(KvStoreTest, SyncSucceeds) {
  this->put_all({{"k", "v"}});
  ASSERT_OK(this->store_->sync());
  EXPECT_EQ(this->value_of("k"), "v");
}

// --- RocksDB only -------------------------------------------------------------------------

class RocksdbStoreTest : public ::testing::Test {
 protected:
  rocksdb_options options(bool disable_wal = false) const {
    rocksdb_options o;
    o.path = (dir_.path() / "db").string();
    o.disable_wal = disable_wal;
    o.write_buffer_bytes = 4u << 20;
    o.block_cache_bytes = 8u << 20;
    return o;
  }

  static write_batch sample_batch() {
    write_batch batch;
    batch.put("keep/1", "one");
    batch.put("keep/2\0"s, "two\0"s);
    batch.put("drop/1", "x");
    batch.put("drop/2", "y");
    batch.put("gone", "z");
    batch.del("gone");
    batch.del_range("drop/", "drop0");
    return batch;
  }

  static void expect_sample(kv_store& store) {
    auto one = store.get("keep/1");
    ASSERT_OK(one);
    EXPECT_EQ(one->value_or("<absent>"), "one");
    auto two = store.get("keep/2\0"s);
    ASSERT_OK(two);
    EXPECT_EQ(two->value_or("<absent>"), "two\0"s);
    for (std::string_view absent : {"gone", "drop/1", "drop/2"}) {
      auto r = store.get(absent);
      ASSERT_OK(r);
      EXPECT_FALSE(r->has_value()) << absent;
    }
    int n = 0;
    ASSERT_OK(store.scan_prefix("", [&](std::string_view, std::string_view) { return ++n, true; }));
    EXPECT_EQ(n, 2);
  }

  temp_dir dir_;
};

TEST_F(RocksdbStoreTest, DataSurvivesCloseAndReopen) {
  {
    auto store = rocksdb_store::open(options());
    ASSERT_OK(store);
    ASSERT_OK((*store)->write(sample_batch()));
    ASSERT_OK((*store)->sync());
    ASSERT_OK((*store)->close());
    ASSERT_OK((*store)->close());  // twice is harmless
  }
  auto reopened = rocksdb_store::open(options());
  ASSERT_OK(reopened);
  expect_sample(**reopened);
}

TEST_F(RocksdbStoreTest, DataSurvivesDestructionWithoutClose) {
  {
    auto store = rocksdb_store::open(options());
    ASSERT_OK(store);
    ASSERT_OK((*store)->write(sample_batch()));
  }
  auto reopened = rocksdb_store::open(options());
  ASSERT_OK(reopened);
  expect_sample(**reopened);
}

TEST_F(RocksdbStoreTest, DataSurvivesReopenWithWalDisabled) {
  {
    auto store = rocksdb_store::open(options(/*disable_wal=*/true));
    ASSERT_OK(store);
    ASSERT_OK((*store)->write(sample_batch()));
    ASSERT_OK((*store)->sync());  // a memtable flush when there is no WAL
    write_batch late;
    late.put("keep/3", "three");
    ASSERT_OK((*store)->write(late));
    ASSERT_OK((*store)->close());  // flushes the unsynced write too
  }
  auto reopened = rocksdb_store::open(options(/*disable_wal=*/true));
  ASSERT_OK(reopened);
  auto three = (*reopened)->get("keep/3");
  ASSERT_OK(three);
  EXPECT_EQ(three->value_or("<absent>"), "three");
  write_batch undo;
  undo.del("keep/3");
  ASSERT_OK((*reopened)->write(undo));
  expect_sample(**reopened);
}

TEST_F(RocksdbStoreTest, OpeningARegularFileFailsNamingThePath) {
  const fs::path file = dir_.path() / "not-a-directory";
  std::ofstream(file) << "hello";
  rocksdb_options o = options();
  o.path = file.string();
  auto store = rocksdb_store::open(o);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message.find(file.string()), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("rocksdb"), std::string::npos) << store.error().message;
}

TEST_F(RocksdbStoreTest, InvalidOptionsFailBeforeOpening) {
  rocksdb_options empty_path = options();
  empty_path.path.clear();
  auto a = rocksdb_store::open(empty_path);
  ASSERT_FALSE(a.has_value());
  EXPECT_NE(a.error().message.find("path"), std::string::npos) << a.error().message;

  rocksdb_options no_memtable = options();
  no_memtable.write_buffer_bytes = 0;
  auto b = rocksdb_store::open(no_memtable);
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().message.find(no_memtable.path), std::string::npos) << b.error().message;
  EXPECT_FALSE(fs::exists(no_memtable.path));
}

TEST_F(RocksdbStoreTest, SecondOpenOfTheSamePathFailsWhileTheFirstIsOpen) {
  auto first = rocksdb_store::open(options());
  ASSERT_OK(first);
  auto second = rocksdb_store::open(options());
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find(options().path), std::string::npos)
      << second.error().message;
}

TEST_F(RocksdbStoreTest, CallsAfterCloseFail) {
  auto store = rocksdb_store::open(options());
  ASSERT_OK(store);
  ASSERT_OK((*store)->close());
  EXPECT_FALSE((*store)->get("k").has_value());
  EXPECT_FALSE((*store)->write(write_batch{}).has_value());
  EXPECT_FALSE((*store)->sync().has_value());
  auto scan = (*store)->scan_prefix("", [](std::string_view, std::string_view) { return true; });
  ASSERT_FALSE(scan.has_value());
  EXPECT_NE(scan.error().message.find("closed"), std::string::npos) << scan.error().message;
}

// --- write_behind ----------------------------------------------------------------------------

// A memory_store that counts the batches written to it and can be told to fail them.
class counting_store final : public kv_store {
 public:
  result<std::optional<std::string>> get(std::string_view key) override { return inner_->get(key); }
  result<void> write(const write_batch& batch) override {
    if (fail_writes) return fail("disk full");
    ++writes;
    return inner_->write(batch);
  }
  result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) override {
    return inner_->scan_prefix(prefix, fn);
  }
  result<void> sync() override { return inner_->sync(); }

  std::map<std::string, std::string> content() {
    std::map<std::string, std::string> all;
    EXPECT_OK(inner_->scan_prefix("", [&](std::string_view k, std::string_view v) {
      all.emplace(k, v);
      return true;
    }));
    return all;
  }

  int writes = 0;
  bool fail_writes = false;

 private:
  std::unique_ptr<memory_store> inner_ = memory_store::create();
};

write_batch batch_of(std::initializer_list<std::pair<std::string, std::string>> puts,
                     std::initializer_list<std::string> dels = {}) {
  write_batch b;
  for (const auto& [k, v] : puts) b.put(k, v);
  for (const auto& k : dels) b.del(k);
  return b;
}

const write_behind::limits hold_long{std::chrono::hours(1), 1u << 20};

TEST(WriteBehindTest, HeldWritesReachTheStoreMergedInOneBatch) {
  counting_store inner;
  write_behind held(inner, hold_long);
  ASSERT_OK(held.write(batch_of({{"seg", "1"}, {"win", "a"}})));
  ASSERT_OK(held.write(batch_of({{"seg", "2"}, {"out", "x"}})));
  ASSERT_OK(held.write(batch_of({{"seg", "3"}}, {"win", "out"})));
  EXPECT_EQ(inner.writes, 0);
  EXPECT_TRUE(inner.content().empty());
  EXPECT_EQ(held.held_bytes(), 3u + 1 + 3 + 3);  // seg=3, win, out (deleted: key only)
  ASSERT_OK(held.flush());
  EXPECT_EQ(inner.writes, 1);
  EXPECT_EQ(inner.content(), (std::map<std::string, std::string>{{"seg", "3"}}));
  EXPECT_EQ(held.held_bytes(), 0u);
  ASSERT_OK(held.flush());  // nothing held: no write
  EXPECT_EQ(inner.writes, 1);
}

TEST(WriteBehindTest, AHeldDeleteRemovesWhatTheStoreHad) {
  counting_store inner;
  ASSERT_OK(inner.write(batch_of({{"x1", "chunk"}, {"keep", "k"}})));
  write_behind held(inner, hold_long);
  ASSERT_OK(held.write(batch_of({}, {"x1"})));
  ASSERT_OK(held.flush());
  EXPECT_EQ(inner.content(), (std::map<std::string, std::string>{{"keep", "k"}}));
}

TEST(WriteBehindTest, ReadsSeeHeldWritesByWritingThemFirst) {
  counting_store inner;
  write_behind held(inner, hold_long);
  ASSERT_OK(held.write(batch_of({{"a", "1"}, {"b", "2"}})));
  auto a = held.get("a");
  ASSERT_OK(a);
  EXPECT_EQ(*a, std::optional<std::string>("1"));
  EXPECT_EQ(inner.writes, 1);
  ASSERT_OK(held.write(batch_of({{"c", "3"}}, {"a"})));
  std::vector<std::string> keys;
  ASSERT_OK(held.scan_prefix("", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"b", "c"}));
}

TEST(WriteBehindTest, WritesGoThroughOnceOlderThanMaxAge) {
  counting_store inner;
  write_behind every_write(inner, {std::chrono::milliseconds(0), 1u << 20});
  ASSERT_OK(every_write.write(batch_of({{"a", "1"}})));
  EXPECT_EQ(inner.writes, 1);
  EXPECT_EQ(inner.content().size(), 1u);

  counting_store inner2;
  write_behind short_age(inner2, {std::chrono::milliseconds(20), 1u << 20});
  ASSERT_OK(short_age.write(batch_of({{"a", "1"}})));
  EXPECT_EQ(inner2.writes, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_OK(short_age.write(batch_of({{"b", "2"}})));  // the held "a" is now too old
  EXPECT_EQ(inner2.writes, 1);
  EXPECT_EQ(inner2.content().size(), 2u);
}

TEST(WriteBehindTest, WritesGoThroughOnceTheyExceedMaxBytes) {
  counting_store inner;
  write_behind held(inner, {std::chrono::hours(1), 100});
  ASSERT_OK(held.write(batch_of({{"k1", std::string(60, 'v')}})));
  ASSERT_OK(held.write(batch_of({{"k1", std::string(90, 'w')}})));  // overwrites: 92 bytes held
  EXPECT_EQ(inner.writes, 0);
  ASSERT_OK(held.write(batch_of({{"k2", std::string(10, 'z')}})));  // 104 bytes
  EXPECT_EQ(inner.writes, 1);
  EXPECT_EQ(held.held_bytes(), 0u);
  EXPECT_EQ(inner.content().at("k1"), std::string(90, 'w'));
}

TEST(WriteBehindTest, DestructionWritesWhatIsHeld) {
  counting_store inner;
  {
    write_behind held(inner, hold_long);
    ASSERT_OK(held.write(batch_of({{"a", "1"}})));
    EXPECT_TRUE(inner.content().empty());
  }
  EXPECT_EQ(inner.content(), (std::map<std::string, std::string>{{"a", "1"}}));
}

TEST(WriteBehindTest, ARangeDeleteComesAfterTheHeldWrites) {
  counting_store inner;
  write_behind held(inner, hold_long);
  ASSERT_OK(held.write(batch_of({{"k2", "old"}, {"z", "kept"}})));
  write_batch range;
  range.del_range("k1", "k3");
  range.put("k2b", "new");
  ASSERT_OK(held.write(range));
  EXPECT_EQ(inner.content(), (std::map<std::string, std::string>{{"k2b", "new"}, {"z", "kept"}}));
}

// The store behind only ever holds the state after a whole batch, and after every flush exactly
// the state after the last batch written: random batches, flushed at random points, against a
// model applied batch by batch.
TEST(WriteBehindTest, TheStoreBehindIsAlwaysTheStateAfterSomeWholeBatch) {
  std::mt19937 rng(42);
  counting_store inner;
  write_behind held(inner, {std::chrono::hours(1), 4096});
  std::map<std::string, std::string> model;
  std::vector<std::map<std::string, std::string>> states{model};  // after each batch
  for (int b = 0; b < 400; ++b) {
    write_batch batch;
    const int ops = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < ops; ++i) {
      std::string k = "k" + std::to_string(rng() % 40);
      if (rng() % 4 == 0) {
        batch.del(k);
        model.erase(k);
      } else {
        std::string v = std::to_string(b) + "." + std::to_string(i) + std::string(rng() % 64, 'v');
        batch.put(k, v);
        model[k] = v;
      }
    }
    ASSERT_OK(held.write(batch));
    states.push_back(model);
    const auto now = inner.content();
    ASSERT_NE(std::find(states.begin(), states.end(), now), states.end()) << "after batch " << b;
    if (rng() % 10 == 0) {
      ASSERT_OK(held.flush());
      ASSERT_EQ(inner.content(), model) << "after batch " << b;
    }
  }
  EXPECT_GT(inner.writes, 20);   // flushed at the random points
  EXPECT_LT(inner.writes, 400);  // but merged, not once per batch
}

TEST(WriteBehindTest, AfterAFailedWriteEveryCallFails) {
  counting_store inner;
  write_behind held(inner, hold_long);
  ASSERT_OK(held.write(batch_of({{"a", "1"}})));
  inner.fail_writes = true;
  EXPECT_FALSE(held.flush().has_value());
  inner.fail_writes = false;
  EXPECT_FALSE(held.flush().has_value());
  EXPECT_FALSE(held.write(batch_of({{"b", "2"}})).has_value());
  EXPECT_FALSE(held.get("a").has_value());
  EXPECT_TRUE(inner.content().empty());
}

}  // namespace
}  // namespace meterflow::state
