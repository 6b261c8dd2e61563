#include "state/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <cstdio>
#include <algorithm>
#include <utility>
#include <vector>

namespace meterflow::state {
namespace {

rocksdb::Slice to_slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view to_view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Every rocksdb::Status ends here: the operator sees what we were doing, on which database, and
// RocksDB's own words.
std::unexpected<error> rocksdb_error(std::string_view what, const std::string& path,
                                     const rocksdb::Status& status) {
  return fail("rocksdb ", what, " ", path, ": ", status.ToString());
}

// The smallest key greater than every key starting with `prefix`, or "" when there is none
// (the prefix is empty or all 0xff bytes).
std::string prefix_successor(std::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff) bound.pop_back();
  if (!bound.empty()) bound.back() = static_cast<char>(static_cast<unsigned char>(bound.back()) + 1);
  return bound;
}

rocksdb::Options make_options(const rocksdb_options& o) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // Two cores on the machines we run on: one flush and one compaction at a time at most.
  options.max_background_jobs = 2;
  // RocksDB loads table handlers with up to this many threads (16 by default), started and
  // joined each time: a 1 M-event `meterflow run` of 128 task stores started 1,943 threads,
  // 23 with one. A task store's few files open as fast on the calling thread.
  options.max_file_opening_threads = 1;
  // Commits arrive as big batches; a large memtable absorbs several of them per flush.
  options.write_buffer_size = o.write_buffer_bytes;

  // Few point reads (hot state lives in its owner's memory), and most of those miss (dedup):
  // a 10-bit bloom filter answers a miss without touching data blocks.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(o.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  // L0/L1 are rewritten soon by compaction, so compressing them costs CPU for nothing; the
  // deeper levels hold most bytes and get LZ4 (cheap to decode on the startup scan).
  options.compression = rocksdb::kLZ4Compression;
  options.compression_per_level = {rocksdb::kNoCompression, rocksdb::kNoCompression};
  for (int level = 2; level < options.num_levels; ++level) {
    options.compression_per_level.push_back(rocksdb::kLZ4Compression);
  }
  return options;
}

// The order a batch's operations go into RocksDB's batch, and the bytes that batch will take.
//
// Point operations are applied in key order: the memtable is a skip list, and an insert right
// after the previous key reuses the path found for it, where a random key is searched from the
// top (about 20 cache misses in a memtable of a million entries; a commit holds tens of
// thousands of keys in no useful order). The reordering changes no outcome: within a run of
// point operations, operations on different keys commute and those on one key keep their order
// (a stable sort); a range delete is a barrier nothing is moved across, as its effect depends on
// which writes come before it.
struct batch_plan {
  std::vector<uint32_t> order;
  size_t bytes = 0;
};

batch_plan plan_batch(const write_batch& batch) {
  const auto& ops = batch.ops();
  batch_plan plan;
  plan.order.resize(ops.size());
  // WriteBatch layout: a 12-byte header, then per operation a tag, two varint32 lengths
  // (at most 5 bytes each) and the bytes themselves.
  plan.bytes = 12;
  for (uint32_t i = 0; i < ops.size(); ++i) {
    plan.order[i] = i;
    plan.bytes += 11 + ops[i].key.size() + ops[i].value.size();
  }
  auto by_key = [&ops](uint32_t a, uint32_t b) { return ops[a].key < ops[b].key; };
  auto run_start = plan.order.begin();
  for (auto it = plan.order.begin(); it != plan.order.end(); ++it) {
    if (ops[*it].kind != write_batch::op_kind::del_range) continue;
    std::stable_sort(run_start, it, by_key);
    run_start = it + 1;
  }
  std::stable_sort(run_start, plan.order.end(), by_key);
  return plan;
}

}  // namespace

result<void> rocksdb_options::validate() const {
  if (path.empty()) return fail("rocksdb: options.path is empty");
  if (write_buffer_bytes == 0) return fail("rocksdb ", path, ": write_buffer_bytes must be > 0");
  return {};
}

result<std::unique_ptr<rocksdb_store>> rocksdb_store::open(const rocksdb_options& options) {
  if (auto ok = options.validate(); !ok) return std::unexpected(std::move(ok.error()));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(make_options(options), options.path, &raw);
  std::unique_ptr<rocksdb::DB> db(raw);
  if (!status.ok()) return rocksdb_error("open", options.path, status);
  return std::unique_ptr<rocksdb_store>(new rocksdb_store(std::move(db), options));
}

rocksdb_store::rocksdb_store(std::unique_ptr<rocksdb::DB> db, rocksdb_options options)
    : db_(std::move(db)), options_(std::move(options)) {}

rocksdb_store::~rocksdb_store() {
  // A destructor cannot return the error; say it rather than swallow it.
  if (auto closed = close(); !closed) {
    std::fprintf(stderr, "meterflow: %s\n", closed.error().message.c_str());
  }
}

result<void> rocksdb_store::close() {
  if (!db_) return {};
  rocksdb::Status status = db_->Close();
  db_.reset();
  if (!status.ok()) return rocksdb_error("close", options_.path, status);
  return {};
}

result<std::optional<std::string>> rocksdb_store::get(std::string_view key) {
  if (!db_) return fail("rocksdb get ", options_.path, ": store is closed");
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), to_slice(key), &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  if (!status.ok()) return rocksdb_error("get", options_.path, status);
  return std::optional<std::string>(std::move(value));
}

result<void> rocksdb_store::write(const write_batch& batch) {
  if (!db_) return fail("rocksdb write ", options_.path, ": store is closed");
  const batch_plan plan = plan_batch(batch);
  // One batch buffer per thread, cleared and reused: a commit's batch is megabytes, and a fresh
  // one each time is grown by appends (copied over and over) and first-touched page by page.
  // A thread writes one store at a time, so the stores of its tasks can share it.
  thread_local rocksdb::WriteBatch wb;
  if (wb.Data().capacity() < plan.bytes) {
    wb = rocksdb::WriteBatch(plan.bytes + plan.bytes / 4);
  } else {
    wb.Clear();
  }
  for (uint32_t i : plan.order) {
    const write_batch::op& o = batch.ops()[i];
    rocksdb::Status status;
    switch (o.kind) {
      case write_batch::op_kind::put:
        status = wb.Put(to_slice(o.key), to_slice(o.value));
        break;
      case write_batch::op_kind::del:
        status = wb.Delete(to_slice(o.key));
        break;
      case write_batch::op_kind::del_range:
        // RocksDB does not define an inverted range tombstone; the contract says it is empty.
        if (o.key < o.value) status = wb.DeleteRange(to_slice(o.key), to_slice(o.value));
        break;
    }
    if (!status.ok()) return rocksdb_error("write (building batch)", options_.path, status);
  }
  rocksdb::WriteOptions write_options;
  write_options.disableWAL = options_.disable_wal;
  rocksdb::Status status = db_->Write(write_options, &wb);
  // An outsized batch (a restore's, a long-stalled commit's) is not kept for the thread's life.
  constexpr size_t kept_batch_bytes = 128ull << 20;
  if (wb.Data().capacity() > kept_batch_bytes) wb = rocksdb::WriteBatch();
  if (!status.ok()) return rocksdb_error("write", options_.path, status);
  return {};
}

result<void> rocksdb_store::scan_prefix(std::string_view prefix, const scan_fn& fn) {
  if (!db_) return fail("rocksdb scan ", options_.path, ": store is closed");
  rocksdb::ReadOptions read_options;
  // The prefix scan loads state once at start: its blocks would only evict the ones point
  // reads use later.
  read_options.fill_cache = false;
  // The bound lets RocksDB stop at the end of the prefix instead of stepping over whatever
  // follows it (range tombstones of expired state in particular).
  const std::string upper = prefix_successor(prefix);
  rocksdb::Slice upper_slice(upper);
  if (!upper.empty()) read_options.iterate_upper_bound = &upper_slice;

  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  for (it->Seek(to_slice(prefix)); it->Valid(); it->Next()) {
    const std::string_view key = to_view(it->key());
    if (!key.starts_with(prefix)) break;
    if (!fn(key, to_view(it->value()))) break;
  }
  // Valid() turns false on errors as well as at the end; only status() tells them apart.
  rocksdb::Status status = it->status();
  if (!status.ok()) return rocksdb_error("scan", options_.path, status);
  return {};
}

result<void> rocksdb_store::sync() {
  if (!db_) return fail("rocksdb sync ", options_.path, ": store is closed");
  rocksdb::Status status;
  if (options_.disable_wal) {
    // Nothing is in a log: durability means writing the memtables to SST files.
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    status = db_->Flush(flush_options);
  } else {
    status = db_->FlushWAL(/*sync=*/true);
  }
  if (!status.ok()) return rocksdb_error("sync", options_.path, status);
  return {};
}

}  // namespace meterflow::state
