// `meterflow run --config FILE`: the stream processor (processor/runtime/runtime.h). With no
// bootstrap.servers it starts an embedded development cluster in-process, creates its topics,
// and prints its bootstrap address so other commands (produce, totals) can reach it.
#pragma once

#include <string>
#include <vector>

namespace meterflow {

struct run_command_options {
  std::string config_path;
  std::vector<std::string> overrides;  // key=value, applied after the file
  bool until_caught_up = false;        // exit once the input is consumed (runtime.h run_controls)
  std::string report_path;             // write the run_report as JSON here at exit
};

int run_run(const run_command_options& options);

}  // namespace meterflow
