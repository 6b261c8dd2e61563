#include "state/kv_store.h"

namespace meterflow::state {

// Batches are filled on the hot path (every state change of a commit interval), so the ops own
// their bytes: callers routinely pass views into buffers they reuse for the next record.

void write_batch::put(std::string_view key, std::string_view value) {
  ops_.push_back(op{op_kind::put, std::string(key), std::string(value)});
}

void write_batch::del(std::string_view key) {
  ops_.push_back(op{op_kind::del, std::string(key), std::string()});
}

void write_batch::del_range(std::string_view begin, std::string_view end) {
  ops_.push_back(op{op_kind::del_range, std::string(begin), std::string(end)});
}

}  // namespace meterflow::state
