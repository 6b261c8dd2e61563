// What the stream threads of one instance share, each piece behind its own lock: the
// subscriptions table, the current catalog, and the figures of the run (runtime.h).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "topology/catalog.h"
#include "topology/subscriptions.h"

namespace meterflow {

// The subscriptions topic as a table: every record of each partition, in order. The runtime
// appends; stream threads apply what they have not seen yet to their tasks.
class subscription_table {
 public:
  void append(int32_t partition, subscription_record r) {
    std::lock_guard lock(mutex_);
    rows_[partition].push_back(std::move(r));
  }
  // The records of `partition` from index `from` on.
  std::vector<subscription_record> since(int32_t partition, size_t from) const {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(partition);
    if (it == rows_.end() || from >= it->second.size()) return {};
    return {it->second.begin() + static_cast<std::ptrdiff_t>(from), it->second.end()};
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [p, v] : rows_) n += v.size();
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::map<int32_t, std::vector<subscription_record>> rows_;
};

// The catalog in force, replaced as a whole on reload; `version` tells threads to pick it up.
class catalog_box {
 public:
  void set(std::shared_ptr<const catalog> c) {
    std::lock_guard lock(mutex_);
    catalog_ = std::move(c);
    ++version_;
  }
  std::pair<std::shared_ptr<const catalog>, uint64_t> get() const {
    std::lock_guard lock(mutex_);
    return {catalog_, version_};
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const catalog> catalog_;
  uint64_t version_ = 0;
};

// Figures of one run of the instance, for `meterflow run --report` and the benchmark.
class run_stats {
 public:
  using wall = std::chrono::system_clock::time_point;

  // The first record of the run was processed at `now` (later calls change nothing).
  void first_record(wall now) {
    std::lock_guard lock(mutex_);
    if (!first_record_) first_record_ = now;
  }
  void records_processed(int64_t n) {
    std::lock_guard lock(mutex_);
    records_ += n;
  }
  // A commit cycle that wrote something took `took`; its outputs were acknowledged at `now`.
  void committed(std::chrono::microseconds took, wall now) {
    std::lock_guard lock(mutex_);
    commit_us_.push_back(took.count());
    last_ack_ = now;
  }

  struct summary {
    int64_t records = 0;
    std::optional<wall> first_record, last_ack;
    int64_t commits = 0;
    double commit_p50_ms = 0, commit_p99_ms = 0, commit_max_ms = 0;
  };
  summary summarise() const {
    std::lock_guard lock(mutex_);
    summary s{records_, first_record_, last_ack_, static_cast<int64_t>(commit_us_.size())};
    if (commit_us_.empty()) return s;
    std::vector<int64_t> sorted = commit_us_;
    std::sort(sorted.begin(), sorted.end());
    // Nearest-rank percentiles.
    auto rank = [&](int pct) {
      size_t i = (sorted.size() * static_cast<size_t>(pct) + 99) / 100;
      return static_cast<double>(sorted[std::max<size_t>(i, 1) - 1]) / 1000.0;
    };
    s.commit_p50_ms = rank(50);
    s.commit_p99_ms = rank(99);
    s.commit_max_ms = static_cast<double>(sorted.back()) / 1000.0;
    return s;
  }

 private:
  mutable std::mutex mutex_;
  int64_t records_ = 0;
  std::optional<wall> first_record_, last_ack_;
  std::vector<int64_t> commit_us_;
};

}  // namespace meterflow
