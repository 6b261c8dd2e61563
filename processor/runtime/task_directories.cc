#include "processor/runtime/task_directories.h"

#include <chrono>
#include <vector>

#include "processor/runtime/changelog.h"
#include "processor/runtime/task.h"
#include "state/rocksdb_store.h"

namespace meterflow {

struct task_directories::standby {
  std::unique_ptr<state::rocksdb_store> store;
  std::unique_ptr<changelog::applier> applier;
  int64_t next = 0;  // next changelog offset to read
};

task_directories::task_directories(const run_options& options, std::string bootstrap,
                                   int partitions, int threads, log_fn log)
    : options_(options),
      bootstrap_(std::move(bootstrap)),
      partitions_(partitions),
      threads_(threads),
      log_(std::move(log)) {}

task_directories::~task_directories() = default;

result<void> task_directories::claim(int32_t partition, int thread) {
  std::unique_lock lock(mutex_);
  if (auto s = standbys_.find(partition); s != standbys_.end()) {
    log_("standby of task " + std::to_string(partition) + " handed over at changelog offset " +
         std::to_string(s->second->next));
    standbys_.erase(s);  // closes its store
    reassign_ = true;
  }
  const bool free = released_.wait_for(lock, std::chrono::minutes(1), [&] {
    auto o = owner_.find(partition);
    return o == owner_.end() || o->second == thread;
  });
  if (!free)
    return fail("task ", std::to_string(partition), ": still held by stream thread ",
                std::to_string(owner_[partition]), " after a minute");
  owner_[partition] = thread;
  return {};
}

void task_directories::release(int32_t partition) {
  {
    std::lock_guard lock(mutex_);
    owner_.erase(partition);
  }
  released_.notify_all();
}

void task_directories::joined(int thread) {
  std::lock_guard lock(mutex_);
  joined_.insert(thread);
}

size_t task_directories::owned() const {
  std::lock_guard lock(mutex_);
  return owner_.size();
}

size_t task_directories::standbys() const {
  std::lock_guard lock(mutex_);
  return standbys_.size();
}

result<void> task_directories::run_standbys(const std::atomic<bool>& stop) {
  auto reader = make_reader(options_, bootstrap_, "standby");
  if (!reader) return std::unexpected(reader.error());
  reader_ = std::move(*reader);
  auto last_reconcile = std::chrono::steady_clock::time_point{};
  while (!stop.load()) {
    if (std::chrono::steady_clock::now() - last_reconcile > std::chrono::seconds(1)) {
      std::lock_guard lock(mutex_);
      if (auto r = reconcile(); !r) {
        if (!r.error().retriable) return r;
        log_("standby: " + r.error().message + " (retrying)");
      }
      last_reconcile = std::chrono::steady_clock::now();
    }
    {
      std::lock_guard lock(mutex_);
      if (reassign_) {
        std::vector<kafka::topic_partition_offset> at;
        for (const auto& [p, s] : standbys_)
          at.push_back({options_.changelog_topic(), kafka::partition_id{p}, kafka::kafka_offset{s->next}});
        if (auto r = at.empty() ? reader_->unassign() : reader_->assign(at); !r) return r;
        reassign_ = false;
      }
    }
    auto m = reader_->poll(millis(200));
    if (!m) return std::unexpected(m.error());
    if (!*m || (*m)->is_partition_eof()) continue;
    std::lock_guard lock(mutex_);
    if (auto r = apply(**m); !r) return r;
  }
  std::lock_guard lock(mutex_);
  standbys_.clear();
  return {};
}

// With the lock held: a standby for every task no stream thread of this instance owns, once
// every stream thread has had its first assignment (or after half a minute: a thread may get
// none when there are more threads than partitions).
result<void> task_directories::reconcile() {
  if (static_cast<int>(joined_.size()) < threads_ &&
      std::chrono::steady_clock::now() - created_ < std::chrono::seconds(30))
    return {};
  for (int32_t p = 0; p < partitions_; ++p)
    if (!owner_.contains(p) && !standbys_.contains(p))
      if (auto r = start_standby(p); !r) return r;
  return {};
}

// With the lock held: opens the task's directory and decides where in the changelog to resume:
// at the store's position when it has one that matches its metadata (changelog.h), else from
// the start with an empty store.
result<void> task_directories::start_standby(int32_t partition) {
  const std::string dir = task_directory(options_, partition);
  auto store = open_task_store(dir, false);
  if (!store) return std::unexpected(store.error());
  changelog::partition_reader changelog(*reader_, options_.changelog_topic(), partition);
  auto extent = changelog.watermarks(millis(30'000));
  if (!extent) return std::unexpected(extent.error());
  reassign_ = true;  // the probe above moved the reader
  auto position = changelog::read_position(**store);
  if (!position) return std::unexpected(position.error());
  auto local_seq = changelog::read_commit_seq(**store);
  if (!local_seq) return std::unexpected(local_seq.error());

  auto s = std::make_unique<standby>();
  changelog::writer_id writer = 0;
  const bool resume = *position && (*position)->offset >= extent->low &&
                      (*position)->offset <= extent->high &&
                      (*position)->commit_seq == local_seq->value_or(0);
  if (resume) {
    s->next = (*position)->offset;
    writer = (*position)->writer;
  } else {
    if (*position || *local_seq) {
      store->reset();
      store = open_task_store(dir, true);
      if (!store) return std::unexpected(store.error());
    }
    s->next = extent->low;
  }
  s->store = std::move(*store);
  s->applier = std::make_unique<changelog::applier>(*s->store, !resume && extent->low > 0, writer);
  log_("standby of task " + std::to_string(partition) + " from changelog offset " +
       std::to_string(s->next) + " of " + std::to_string(extent->high));
  standbys_[partition] = std::move(s);
  return {};
}

// With the lock held: one changelog record for a standby (ignored if the standby is gone).
result<void> task_directories::apply(const kafka::message& m) {
  auto it = standbys_.find(m.partition().value);
  if (it == standbys_.end() || m.offset().value < it->second->next) return {};
  it->second->next = m.offset().value + 1;
  return it->second->applier->apply(m);
}

}  // namespace meterflow
