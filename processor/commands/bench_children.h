// The two programs `meterflow bench` times besides `meterflow run`, each a hidden subcommand run
// as a child process of the bench (so its peak RSS is its own) and writing a JSON report:
//
//   meterflow bench offline --workload DIR --state memory|rocksdb --scratch DIR --report FILE
//     The offline engine (run_rate, SPEC §6) on DIR's catalog, subscriptions and events; charges
//     and dead letters to DIR2 = --scratch, RocksDB state in DIR2/state (kept, so the bench can
//     measure it). Report: {"records", "accepted", "elapsed_ns", "events_per_s"}, where elapsed_ns
//     is the event loop's wall time including the final commit (rate_summary::elapsed_ns).
//
//   meterflow bench pipe --bootstrap B --input TOPIC --output TOPIC --report FILE
//     The ceiling: raw librdkafka, no parsing, no state. Reads every record of every partition
//     of the input topic up to the high watermark seen at start, and produces its key and value
//     to the output topic (partitioner's choice by key) with meterflow's producer settings
//     (kafka::producer: idempotent, acks=all) and meterflow's consumer fetch settings. Report:
//     {"records", "delivered", "first_record_ms", "last_ack_ms", "elapsed_ns", "events_per_s"}:
//     from the first record consumed to the flush that acknowledged the last one.
//
// Both return 0, or 2 with the reason on stderr.
#pragma once

#include <string>

namespace meterflow {

struct bench_offline_options {
  std::string workload_dir;   // catalog.json, subscriptions.jsonl, events.jsonl. Required.
  std::string state;          // "memory" or "rocksdb". Required.
  std::string scratch_dir;    // outputs and state/ go here (created). Required.
  std::string report_path;    // the JSON report. Required.
};
int run_bench_offline(const bench_offline_options& options);

struct bench_pipe_options {
  std::string bootstrap;     // bootstrap.servers. Required.
  std::string input_topic;   // read from the beginning to the high watermarks at start. Required.
  std::string output_topic;  // must exist (no auto-creation wanted). Required.
  std::string report_path;   // the JSON report. Required.
};
int run_bench_pipe(const bench_pipe_options& options);

}  // namespace meterflow
