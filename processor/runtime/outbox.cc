#include "processor/runtime/outbox.h"

#include <cstring>

#include <zstd.h>

#include "base/assert.h"
#include "topology/codec.h"

namespace meterflow::outbox {

namespace {

constexpr int zstd_level = 1;  // the fastest standard level; higher ones cost more than they save here

bool decode_entry(byte_reader& rd, entry& e) {
  uint8_t kind = 0, reason = 0;
  bool ok = rd.u8(kind) && rd.u8(reason) && rd.i64(e.source_offset) && rd.str(e.record.key) &&
            rd.str(e.record.value) && rd.str(e.record.error);
  if (!ok || kind > static_cast<uint8_t>(output_kind::dead_letter) || reason >= dead_letter_reason_count)
    return false;
  e.record.kind = static_cast<output_kind>(kind);
  e.record.reason = static_cast<dead_letter_reason>(reason);
  return true;
}

}  // namespace

struct chunk_writer::workspace {
  std::string raw;         // the chunk being filled
  std::string compressed;  // seal()'s output buffer, kept at its largest size
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  bool in_use = false;
  workspace() { MF_ASSERT(cctx != nullptr, "ZSTD_createCCtx failed"); }
  ~workspace() { ZSTD_freeCCtx(cctx); }
};

chunk_writer::workspace& chunk_writer::thread_workspace() {
  thread_local workspace w;
  return w;
}

chunk_writer::chunk_writer() : ws_(thread_workspace()) {
  MF_ASSERT(!ws_.in_use, "a second outbox chunk_writer on one thread");
  ws_.in_use = true;
  ws_.raw.clear();
}

chunk_writer::~chunk_writer() {
  ws_.raw.clear();
  ws_.in_use = false;
}

bool chunk_writer::empty() const { return ws_.raw.empty(); }
bool chunk_writer::full() const { return ws_.raw.size() >= chunk_raw_bytes; }

void chunk_writer::add(const output_record& r, int64_t source_offset) {
  byte_writer(ws_.raw)
      .u8(static_cast<uint8_t>(r.kind))
      .u8(static_cast<uint8_t>(r.reason))
      .i64(source_offset)
      .str(r.key)
      .str(r.value)
      .str(r.error);
}

std::string chunk_writer::seal() {
  const std::string& raw = ws_.raw;
  std::string& out = ws_.compressed;
  const auto raw_size = static_cast<uint32_t>(raw.size());
  const size_t bound = sizeof raw_size + ZSTD_compressBound(raw.size());
  if (out.size() < bound) out.resize(bound);
  std::memcpy(out.data(), &raw_size, sizeof raw_size);
  const size_t n = ZSTD_compressCCtx(ws_.cctx, out.data() + sizeof raw_size, out.size() - sizeof raw_size,
                                     raw.data(), raw.size(), zstd_level);
  MF_ASSERT(!ZSTD_isError(n), ZSTD_getErrorName(n));  // fails only on a too small buffer
  ws_.raw.clear();
  return std::string(out.data(), sizeof raw_size + n);
}

result<void> decode_chunk(std::string_view value, std::vector<entry>& out) {
  uint32_t raw_size = 0;
  if (value.size() < sizeof raw_size) return fail("outbox chunk: truncated (", std::to_string(value.size()), " bytes)");
  std::memcpy(&raw_size, value.data(), sizeof raw_size);
  value.remove_prefix(sizeof raw_size);
  std::string raw(raw_size, '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), value.data(), value.size());
  if (ZSTD_isError(n)) return fail("outbox chunk: ", ZSTD_getErrorName(n));
  if (n != raw_size) return fail("outbox chunk: ", std::to_string(n), " bytes, ", std::to_string(raw_size), " expected");
  byte_reader rd(raw);
  while (!rd.at_end()) {
    entry e;
    if (!decode_entry(rd, e)) return fail("outbox chunk: corrupt record after ", std::to_string(out.size()), " records");
    out.push_back(std::move(e));
  }
  return {};
}

}  // namespace meterflow::outbox
