// The instance's metrics (prometheus-cpp), served at http://<metrics.address>/metrics when the
// property metrics.address is set (e.g. 0.0.0.0:9464); kept in memory either way. Names:
//   meterflow_records_processed_total            input records processed
//   meterflow_input_offsets_skipped_total        input offsets a task's records jumped over: 0
//                                                unless producers write transactions (each
//                                                commit marker takes an offset) or records were
//                                                never handed to the task (lost: alert on it)
//   meterflow_commit_duration_seconds            commit cycles that wrote something (histogram)
//   meterflow_events{outcome}                    accepted / duplicate / dead_letter, summed over
//                                                the tasks this instance runs (since each task's
//                                                state began)
//   meterflow_tasks{kind}                        active / standby tasks on this instance
//   meterflow_task_restore_seconds{partition,kind}   the last restore of a task: how long ...
//   meterflow_task_restore_records{partition,kind}   ... and how many changelog records
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "processor/kafka/types.h"
#include "topology/engine.h"

namespace meterflow {

class metrics {
 public:
  // `address` empty: no endpoint.
  static result<std::unique_ptr<metrics>> create(const std::string& address);
  ~metrics();

  void processed(int64_t records);
  void skipped(int64_t offsets);
  void committed(std::chrono::microseconds took);
  void restored(int32_t partition, std::string_view kind, int64_t records, millis took);
  void tasks(size_t active, size_t standby);
  void events(const engine_counters& counters);

 private:
  metrics();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace meterflow
