// kv_store on a RocksDB database in its own directory (one per task).
//
// Tuned for meterflow's write pattern: large batches at commit, few reads (hot state is held in
// memory by its owner and loaded once with scan_prefix at start). The WAL is on unless
// `disable_wal` is set by a caller that has another source of durability (offline rating).
#pragma once

#include <memory>
#include <string>

#include "state/kv_store.h"

namespace rocksdb {
class DB;
}

namespace meterflow::state {

struct rocksdb_options {
  std::string path;                           // Directory of the database; created if missing.
  bool disable_wal = false;                   // Default: false.
  size_t write_buffer_bytes = 128ull << 20;   // Memtable size. Default: 128 MiB.
  size_t block_cache_bytes = 256ull << 20;    // Default: 256 MiB.

  // Fails on an empty path or a zero memtable size; open() calls it first.
  [[nodiscard]] result<void> validate() const;
};

class rocksdb_store final : public kv_store {
 public:
  // Opens or creates the database; errors carry RocksDB's own message and the path.
  static result<std::unique_ptr<rocksdb_store>> open(const rocksdb_options& options);
  // Closes the database if close() was not called; a failure to close is then only logged to
  // stderr, so owners that care about it call close() first.
  ~rocksdb_store() override;

  // Closes the database. With the WAL off RocksDB flushes the memtables while closing, so what
  // was written survives a clean close either way. Every other call fails afterwards; calling
  // close() twice is harmless.
  [[nodiscard]] result<void> close();

  result<std::optional<std::string>> get(std::string_view key) override;
  result<void> write(const write_batch& batch) override;
  result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) override;
  result<void> sync() override;

 private:
  rocksdb_store(std::unique_ptr<rocksdb::DB> db, rocksdb_options options);
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb_options options_;
};

}  // namespace meterflow::state
