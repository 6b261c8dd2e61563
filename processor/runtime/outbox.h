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
// A task keeps its outgoing records in that raw encoding from the moment the engine writes them
// (record_buffer is the engine's output sink) until they are published: a charge line costs no
// string or record object of its own, and the same bytes are compressed into chunks and read
// back, as views, to be produced.
//
// Thread-safety: a record_buffer or record_reader is used by one thread; seal_chunks uses buffers
// of the calling thread; decode_chunk is reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "topology/codec.h"
#include "topology/engine.h"

namespace meterflow::outbox {

// Raw bytes after which a chunk is cut: its compressed value then stays far below Kafka's
// default 1 MB record limit even for incompressible records. A chunk ends at the first record
// boundary at or past it.
inline constexpr size_t chunk_raw_bytes = 256 * 1024;

// Records encoded back to back, written straight by the engine.
class record_buffer final : public output_sink {
 public:
  // The input offset of the records that follow (dead letters name it in their headers); -1
  // for records the wall clock causes.
  void set_source_offset(int64_t offset) { source_offset_ = offset; }

  std::string& begin(output_kind kind, std::string_view key) override;
  void end() override;
  void dead_letter(std::string_view raw, std::string_view key, dead_letter_reason reason,
                   std::string error) override;

  bool empty() const { return bytes_.empty(); }
  size_t records() const { return records_; }
  // The encoded records; the buffer is empty afterwards.
  std::string take();

 private:
  byte_writer header(output_kind kind, dead_letter_reason reason, std::string_view key);

  std::string bytes_;
  size_t value_size_at_ = 0;  // where begin() left the open value's length
  size_t records_ = 0;
  int64_t source_offset_ = -1;
};

// One encoded record, as views into the bytes it was read from.
struct record_view {
  output_kind kind = output_kind::charge;
  dead_letter_reason reason = dead_letter_reason::invalid_json;
  int64_t source_offset = -1;
  std::string_view key, value, error;
};

// Reads encoded records in order.
class record_reader {
 public:
  explicit record_reader(std::string_view raw) : in_(raw), size_(raw.size()) {}
  // The next record; false at the end or at bytes that are not a record (then !ok()).
  bool next(record_view& r);
  bool ok() const { return ok_ && in_.ok(); }
  size_t offset() const { return size_ - in_.remaining(); }  // bytes read so far

 private:
  byte_reader in_;
  size_t size_;
  bool ok_ = true;  // false after a kind or reason out of range
};

// Cuts encoded records into chunk values (record_reader must accept `raw`), in order.
void seal_chunks(std::string_view raw, const std::function<void(std::string value)>& chunk);

// Appends the encoded records of a chunk value to `raw` and returns how many there were; an
// error names what is corrupt (and `raw` is then unchanged).
[[nodiscard]] result<size_t> decode_chunk(std::string_view value, std::string& raw);

}  // namespace meterflow::outbox
