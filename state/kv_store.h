// The byte-oriented key/value store every piece of meterflow state lives in.
//
// Keys and values are opaque bytes; keys sort bytewise. Writes go through a write_batch applied
// atomically (all or nothing), which is what lets a commit put state changes, input offsets and
// outgoing records in one unit (DESIGN.md: transactional outbox).
//
// Thread-safety: a store is used by one task (one thread) at a time.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace meterflow::state {

// An ordered list of mutations, applied atomically by kv_store::write.
class write_batch {
 public:
  enum class op_kind { put, del, del_range };
  struct op {
    op_kind kind;
    std::string key;    // for del_range: the first key removed
    std::string value;  // for del_range: the first key kept (exclusive end)
  };

  void put(std::string_view key, std::string_view value);
  void del(std::string_view key);
  // The same, taking strings the caller built for the batch (rvalues) without copying them. A
  // commit can hold one put per changed key, so the copy and its allocation count. Templates
  // only so that other arguments (literals, views, lvalues) keep choosing the overloads above.
  template <class K, class V>
    requires std::same_as<K, std::string> && std::same_as<V, std::string>
  void put(K&& key, V&& value) {
    ops_.push_back(op{op_kind::put, std::move(key), std::move(value)});
  }
  template <class K>
    requires std::same_as<K, std::string>
  void del(K&& key) {
    ops_.push_back(op{op_kind::del, std::move(key), std::string()});
  }
  // Removes every key in [begin, end). An empty or inverted range (begin >= end) removes nothing.
  void del_range(std::string_view begin, std::string_view end);

  // Makes room for `n` more ops: a commit knows roughly how many it adds, and growing the vector
  // op by op moves every string it holds several times.
  void reserve_more(size_t n) { ops_.reserve(ops_.size() + n); }

  const std::vector<op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void clear() { ops_.clear(); }

 private:
  std::vector<op> ops_;
};

// Called for each key in order; return false to stop early. The views are valid only during the
// call, and the callback must not write to the store it is scanning.
using scan_fn = std::function<bool(std::string_view key, std::string_view value)>;

class kv_store {
 public:
  virtual ~kv_store() = default;

  // nullopt when the key is absent.
  [[nodiscard]] virtual result<std::optional<std::string>> get(std::string_view key) = 0;
  // Applies the whole batch or nothing.
  [[nodiscard]] virtual result<void> write(const write_batch& batch) = 0;
  // Visits every key that starts with `prefix`, in key order.
  [[nodiscard]] virtual result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) = 0;
  // Makes every applied batch durable (fsync for disk stores; no-op in memory).
  [[nodiscard]] virtual result<void> sync() = 0;
};

}  // namespace meterflow::state
