// `meterflow run`: one instance of the consumer group (DESIGN.md §Data flow).
//
// The runtime joins the group on the input topic, opens a task per assigned partition (restoring
// it from its changelog when needed), reads the subscriptions topic as a table co-partitioned with
// the input, feeds records to their task, and commits every commit.interval. It reloads the
// catalog on SIGHUP and when the file changes; a catalog that fails to load is logged and the
// previous one kept.
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

// Runs until `signals.stop` is set or a fatal error. `bootstrap` is bootstrap.servers (or the
// embedded cluster's address).
result<void> run_processor(const run_options& options, const std::string& bootstrap,
                           run_signals& signals);

}  // namespace meterflow
