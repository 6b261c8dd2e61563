// `meterflow run`: one instance of the consumer group (DESIGN.md §Data flow).
//
// The runtime checks the topics, reads the subscriptions topic as a table co-partitioned with the
// input (all of it before processing starts, then as it grows), and runs num.stream.threads
// stream threads (stream_thread.h), each a member of the group with its own tasks. With
// num.standby.replicas > 0 a standby thread keeps the other tasks warm (task_directories.h). It
// reloads the catalog on SIGHUP and when the file changes (a catalog that fails to load is
// logged and the previous one kept), logs progress every 10 s, and serves metrics (metrics.h).
// Any thread's failure stops the instance with that error.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/result.h"
#include "processor/runtime/run_options.h"

namespace meterflow {

struct run_signals {
  std::atomic<bool> stop{false};    // SIGTERM / SIGINT: commit and leave the group
  std::atomic<bool> reload{false};  // SIGHUP: reload the catalog
};

struct run_controls {
  // Stop (commit, leave, return) once this instance owns every partition and all of them have
  // been read to the end, committed and acknowledged: for benchmarks and batch jobs.
  bool until_caught_up = false;
};

// What the run did, for --report (figures over all stream threads).
struct run_report {
  int64_t records = 0;                // input records processed
  int64_t first_record_ms = 0;        // epoch ms: the first record processed
  int64_t last_ack_ms = 0;            // epoch ms: the end of the last commit cycle that wrote
  int64_t commits = 0;                // commit cycles that wrote something
  double commit_p50_ms = 0, commit_p99_ms = 0, commit_max_ms = 0;
  double peak_rss_mb = 0;             // of the whole process
  std::string to_json() const;
};

// Runs until `signals.stop` is set, a fatal error, or (controls) the input is consumed.
// `bootstrap` is bootstrap.servers (or the embedded cluster's address).
result<run_report> run_processor(const run_options& options, const std::string& bootstrap,
                                 run_signals& signals, const run_controls& controls = {});

}  // namespace meterflow
