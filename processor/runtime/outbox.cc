#include "processor/runtime/outbox.h"

#include <cstring>

#include <zstd.h>

#include "base/assert.h"
#include "topology/codec.h"

namespace meterflow::outbox {

namespace {

constexpr int zstd_level = 1;  // the fastest standard level; higher ones cost more than they save here

// seal_chunks' buffers: the compressed output (kept at its largest size) and zstd's context,
// ~1.5 MB once grown. Per thread, not per task: held per task they were first touched 128 times
// over at 128 partitions, and a page touched the first time costs ~13 µs here
// (docs/performance.md).
struct workspace {
  std::string compressed;
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  workspace() { MF_ASSERT(cctx != nullptr, "ZSTD_createCCtx failed"); }
  ~workspace() { ZSTD_freeCCtx(cctx); }
};

std::string compress(std::string_view raw) {
  thread_local workspace ws;
  const auto raw_size = static_cast<uint32_t>(raw.size());
  const size_t bound = sizeof raw_size + ZSTD_compressBound(raw.size());
  if (ws.compressed.size() < bound) ws.compressed.resize(bound);
  std::memcpy(ws.compressed.data(), &raw_size, sizeof raw_size);
  const size_t n = ZSTD_compressCCtx(ws.cctx, ws.compressed.data() + sizeof raw_size,
                                     ws.compressed.size() - sizeof raw_size, raw.data(), raw.size(),
                                     zstd_level);
  MF_ASSERT(!ZSTD_isError(n), ZSTD_getErrorName(n));  // fails only on a too small buffer
  return std::string(ws.compressed.data(), sizeof raw_size + n);
}

}  // namespace

// ---- record_buffer ------------------------------------------------------------------------

// A record starts kind(u8) reason(u8) source offset(i64) key; value and error follow.
byte_writer record_buffer::header(output_kind kind, dead_letter_reason reason, std::string_view key) {
  byte_writer w(bytes_);
  w.u8(static_cast<uint8_t>(kind)).u8(static_cast<uint8_t>(reason)).i64(source_offset_).str(key);
  return w;
}

std::string& record_buffer::begin(output_kind kind, std::string_view key) {
  // The reason byte of a record that is not a dead letter is output_record's default, as
  // earlier versions wrote it.
  header(kind, output_record{}.reason, key);
  // The value's length is not known yet: end() writes it here.
  value_size_at_ = bytes_.size();
  bytes_.append(sizeof(uint32_t), '\0');
  return bytes_;
}

void record_buffer::end() {
  const auto n = static_cast<uint32_t>(bytes_.size() - value_size_at_ - sizeof(uint32_t));
  std::memcpy(bytes_.data() + value_size_at_, &n, sizeof n);
  byte_writer(bytes_).str({});  // no error
  ++records_;
}

void record_buffer::dead_letter(std::string_view raw, std::string_view key,
                                dead_letter_reason reason, std::string error) {
  header(output_kind::dead_letter, reason, key).str(raw).str(error);
  ++records_;
}

std::string record_buffer::take() {
  std::string out = std::move(bytes_);
  bytes_.clear();
  bytes_.reserve(out.size());  // the next commit's records are likely as many
  records_ = 0;
  return out;
}

// ---- reading ------------------------------------------------------------------------------

bool record_reader::next(record_view& r) {
  if (!ok() || in_.at_end()) return false;
  uint8_t kind = 0, reason = 0;
  if (!(in_.u8(kind) && in_.u8(reason) && in_.i64(r.source_offset) && in_.str(r.key) &&
        in_.str(r.value) && in_.str(r.error)))
    return false;
  if (kind > static_cast<uint8_t>(output_kind::dead_letter) || reason >= dead_letter_reason_count)
    return ok_ = false;
  r.kind = static_cast<output_kind>(kind);
  r.reason = static_cast<dead_letter_reason>(reason);
  return true;
}

void seal_chunks(std::string_view raw, const std::function<void(std::string value)>& chunk) {
  record_reader rd(raw);
  record_view r;
  size_t start = 0;
  while (rd.next(r)) {
    if (rd.offset() - start >= chunk_raw_bytes) {
      chunk(compress(raw.substr(start, rd.offset() - start)));
      start = rd.offset();
    }
  }
  MF_ASSERT(rd.ok(), "outbox: sealing bytes that are not encoded records");
  if (start < raw.size()) chunk(compress(raw.substr(start)));
}

result<size_t> decode_chunk(std::string_view value, std::string& raw) {
  uint32_t raw_size = 0;
  if (value.size() < sizeof raw_size) return fail("outbox chunk: truncated (", std::to_string(value.size()), " bytes)");
  std::memcpy(&raw_size, value.data(), sizeof raw_size);
  value.remove_prefix(sizeof raw_size);
  const size_t before = raw.size();
  raw.resize(before + raw_size);
  const size_t n = ZSTD_decompress(raw.data() + before, raw_size, value.data(), value.size());
  auto refuse = [&](auto... why) {
    raw.resize(before);
    return fail("outbox chunk: ", why...);
  };
  if (ZSTD_isError(n)) return refuse(ZSTD_getErrorName(n));
  if (n != raw_size)
    return refuse(std::to_string(n), " bytes, ", std::to_string(raw_size), " expected");
  record_reader rd(std::string_view(raw).substr(before));
  record_view r;
  size_t records = 0;
  while (rd.next(r)) ++records;
  if (!rd.ok()) return refuse("corrupt record after ", std::to_string(records), " records");
  return records;
}

}  // namespace meterflow::outbox
