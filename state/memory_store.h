// kv_store held in an ordered in-process map. For tests and `meterflow rate --state memory`;
// nothing survives the process.
#pragma once

#include <map>
#include <memory>

#include "state/kv_store.h"

namespace meterflow::state {

class memory_store final : public kv_store {
 public:
  static std::unique_ptr<memory_store> create();

  result<std::optional<std::string>> get(std::string_view key) override;
  result<void> write(const write_batch& batch) override;
  result<void> scan_prefix(std::string_view prefix, const scan_fn& fn) override;
  result<void> sync() override { return {}; }

  size_t size() const { return map_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> map_;
};

}  // namespace meterflow::state
