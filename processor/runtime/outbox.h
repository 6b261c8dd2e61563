// The transactional outbox's storage format (task.h: the commit protocol).
//
// A commit's outgoing records are stored in chunks: one store key and one changelog record per
// chunk (and one tombstone once published) for many outputs. A chunk's value is
//   raw size (u32) · zstd frame of the records, each kind(u8) reason(u8) source offset(i64)
//   key(str) value(str) error(str) (topology/codec.h encodings)
// Charge lines are repetitive JSON: zstd level 1 shrinks a chunk 15-20 times at ~650 MB/s here
// (docs/performance.md), and a chunk is written twice (local store, changelog) but read only
// when a task republishes what a crash left unpublished.
//
// Thread-safety: a chunk_writer is used by the thread that made it, and a thread has one at a
// time (they share the thread's buffers); decode_chunk is reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "topology/engine.h"

namespace meterflow::outbox {

// One record waiting in the outbox, with the input offset that produced it (dead letters name
// it in their headers; -1 for records the wall clock closed).
struct entry {
  output_record record;
  int64_t source_offset = -1;
};

// Raw bytes after which a chunk is sealed: its compressed value then stays far below Kafka's
// default 1 MB record limit even for incompressible records.
inline constexpr size_t chunk_raw_bytes = 256 * 1024;

// Encodes records into chunks. Its buffers (the raw chunk, the compressed one, zstd's context:
// ~1.5 MB once grown) belong to the thread and are reused by every chunk_writer the thread
// makes, so a task needs none of its own: held per task they were first touched 128 times over
// at 128 partitions, and a page touched the first time costs ~13 µs here (docs/performance.md).
class chunk_writer {
 public:
  chunk_writer();  // asserts that the thread has no other chunk_writer
  ~chunk_writer();
  chunk_writer(const chunk_writer&) = delete;
  chunk_writer& operator=(const chunk_writer&) = delete;

  void add(const output_record& r, int64_t source_offset);
  bool empty() const;
  bool full() const;
  // The chunk's value (compressed, its own exact-size string); the writer starts a new chunk.
  std::string seal();

 private:
  struct workspace;
  static workspace& thread_workspace();
  workspace& ws_;
};

// Appends the records of a chunk value to `out`; an error names what is corrupt.
[[nodiscard]] result<void> decode_chunk(std::string_view value, std::vector<entry>& out);

}  // namespace meterflow::outbox
