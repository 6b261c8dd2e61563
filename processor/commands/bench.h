// `meterflow bench [--quick] [--json FILE]`: the benchmark of docs/performance.md §Benchmark in
// one command. Every measurement is a child process (its peak RSS is its own):
//
// 1. offline engine: `meterflow bench offline` (run_rate, one core) on generated events
//    (bench/workload.h: 10,000 tenants, 24 h unless --hours, 1 % duplicates, 0.5 % late),
//    in-memory and RocksDB state; for RocksDB also the state directory's size after the run
//    per accepted event.
// 2. ceiling: `meterflow bench pipe`, raw librdkafka consume -> produce, on a development cluster
//    (kafka::dev_cluster, in this process) holding a second generated workload, pre-produced.
// 3. end to end: `meterflow run --until-caught-up --report FILE` over the same records.
// 4. the ratio of 3 to 2, per pair of runs made one after the other.
// Runs alternate (memory, RocksDB, ...; pipe, run, pipe, run, ...) so that a noisy moment of the
// machine does not hit one contender only. Every record count is checked: no record may be
// dropped by the development cluster's retention (~5 MiB per partition) or lost on the way.
//
// Prints a Markdown table (median, min, max of the runs) and writes the same figures as JSON;
// the JSON format is in docs/performance.md §Benchmark.
#pragma once

#include <string>

namespace meterflow {

struct bench_options {
  // Small sizes (100,000 offline events; 30,000 on Kafka in 8 partitions): everything in under
  // a minute, to check that the benchmark works; the figures mean little. Default: false (full:
  // 2,000,000 offline events; 1,000,000 on Kafka in 128 partitions).
  bool quick = false;
  // Also write the figures as JSON to this file. Default: "" (the table only).
  std::string json_path;
  // Hours of event time the generated events span (bench/workload.h), 1 to 4,416: fewer hours
  // put more events in each window and write fewer charges per event. Default: 24 (a dense day:
  // ~0.47 charge lines per event, more output bytes than input bytes).
  int64_t hours = 24;
  // Runs of every measurement; each figure is their median, with min and max. Default: 3.
  int runs = 3;
  // Where workloads, state, logs and the children's reports go (a fresh directory inside).
  // Default: "" ($TMPDIR, else /tmp).
  std::string tmp_dir;
  // Keep that directory (to read the logs and reports) instead of removing it. Default: false.
  bool keep = false;
};

// Runs the benchmark. Returns 0, or 1 with the reason on stderr (a child failed, or records were
// dropped or miscounted).
int run_bench(const bench_options& options);

}  // namespace meterflow
