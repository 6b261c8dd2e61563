// `meterflow dev-cluster`: a standalone development Kafka cluster (processor/kafka/dev_cluster.h)
// driven by line commands on stdin, for local runs and fault-injection tests.
#pragma once

#include <string>
#include <vector>

namespace meterflow {

struct dev_cluster_options {
  // Number of brokers (ids 1..brokers). Default: 3.
  int brokers = 3;
  // Topics to create at start, each "name:partitions". Default: none.
  std::vector<std::string> topics;
  // Fixed bootstrap port on 127.0.0.1 (a forwarder to the first broker up); 0: none, the bootstrap
  // address is then the brokers' own random ports. Default: 0.
  int port = 0;
  // Also write the bootstrap address (and a newline) to this file, replaced atomically, and
  // removed on exit. Default: "" (none).
  std::string bootstrap_file;
  // Do not read commands; run until SIGTERM/SIGINT (for `&` in shell scripts, whose background
  // jobs get /dev/null as stdin). Default: false.
  bool ignore_stdin = false;
};

// The text of `meterflow dev-cluster --help` after the options: the protocol and the limits.
extern const char* const dev_cluster_help;

// Runs the cluster until stdin ends, `quit`, SIGTERM or SIGINT. Prints the bootstrap address as
// the first line of stdout, then one answer line per command (`ok` or `error: ...`). Returns the
// exit status: 0 after a normal stop, 2 if the cluster could not start.
int run_dev_cluster(const dev_cluster_options& options);

}  // namespace meterflow
