// The meterflow command line. Exceptions stop here: every command reports errors as one
// sentence on stderr and a non-zero exit status.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "processor/allocator.h"
#include "processor/commands/bench.h"
#include "processor/commands/bench_children.h"
#include "processor/commands/detail/child_process.h"
#include "processor/commands/dev_cluster.h"
#include "processor/commands/produce.h"
#include "processor/commands/totals.h"
#include "processor/commands/run.h"
#include "processor/commands/tail.h"
#include "processor/line_reader.h"
#include "processor/offline_rate.h"
#include "processor/totals.h"
#include "topology/catalog.h"

namespace {

using namespace meterflow;

// CLI11 validator for durations ("300s", "5m", "48h", or milliseconds).
struct duration_option {
  millis* target;
  std::string operator()(std::string& text) const {
    auto d = parse_duration(text);
    if (!d) return d.error().message;
    *target = *d;
    return {};
  }
};

int cmd_rate(const rate_options& o) {
  auto summary = run_rate(o);
  if (!summary) {
    std::fprintf(stderr, "meterflow rate: %s\n", summary.error().message.c_str());
    return 2;
  }
  const auto& c = summary->counters;
  int64_t dead = 0;
  for (int64_t n : c.dead_letters) dead += n;
  std::fprintf(stderr,
               "meterflow rate: %lld lines: %lld accepted, %lld duplicates, %lld dead letters; "
               "wrote %lld charges, %lld adjustments, %lld alerts to %s\n",
               static_cast<long long>(summary->input_lines), static_cast<long long>(c.accepted),
               static_cast<long long>(c.duplicates), static_cast<long long>(dead),
               static_cast<long long>(summary->charges),
               static_cast<long long>(summary->adjustments),
               static_cast<long long>(summary->alerts), o.out_path.c_str());
  if (o.summary_path.empty()) std::printf("%s\n", summary_json(*summary).c_str());
  return 0;
}

int cmd_check_catalog(const std::string& path) {
  auto c = catalog::load_file(path);
  if (!c) {
    std::fprintf(stderr, "meterflow check-catalog: %s\n", c.error().message.c_str());
    return 1;
  }
  std::printf("%s", describe(*c).c_str());
  return 0;
}

// Sums charge and adjustment records from JSONL files as a ledger would (each id once).
int cmd_totals(const std::vector<std::string>& files) {
  ledger_totals ledger;
  for (const auto& path : files) {
    auto reader = line_reader::open(path);
    if (!reader) {
      std::fprintf(stderr, "meterflow totals: %s\n", reader.error().message.c_str());
      return 2;
    }
    for (int64_t n = 1;; ++n) {
      auto line = (*reader)->next();
      if (!line) {
        std::fprintf(stderr, "meterflow totals: %s\n", line.error().message.c_str());
        return 2;
      }
      if (!*line) break;
      if ((*line)->empty()) continue;
      if (auto r = ledger.apply(**line); !r) {
        std::fprintf(stderr, "meterflow totals: %s:%lld: %s\n", path.c_str(),
                     static_cast<long long>(n), r.error().message.c_str());
        return 2;
      }
    }
  }
  std::printf("%s\n", ledger.to_json().c_str());
  if (!ledger.conflicts().empty()) {
    std::fprintf(stderr, "meterflow totals: %zu ids were seen with two different contents\n",
                 ledger.conflicts().size());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  configure_allocator();
  CLI::App app{"meterflow: a stream processor for usage-based billing"};
  app.require_subcommand(1);

  rate_options rate;
  std::string state = "rocksdb";
  auto* r = app.add_subcommand("rate", "Rate meter events from files (offline mode, SPEC §6)");
  r->add_option("--catalog", rate.catalog_path, "Pricing catalog (JSON)")->required();
  r->add_option("--subscriptions", rate.subscriptions_path, "Subscriptions (JSONL)")->required();
  r->add_option("--events", rate.events_path, "Meter events (JSONL, one partition)")->required();
  r->add_option("--out", rate.out_path, "Charges and adjustments (JSONL)")->required();
  r->add_option("--dlq", rate.dlq_path, "Dead letters (JSONL)");
  r->add_option("--alerts", rate.alerts_path, "Usage alerts (JSONL)");
  r->add_option("--summary", rate.summary_path,
                "Write the counts as JSON to this file instead of stdout");
  r->add_option("--window", "Window size (default 3600s)")
      ->check(CLI::Validator(duration_option{&rate.engine.window}, "DURATION"));
  r->add_option("--grace", "Grace before a window closes (default 300s)")
      ->check(CLI::Validator(duration_option{&rate.engine.grace}, "DURATION"));
  r->add_option("--settlement", "Settlement window after a period ends (default 48h)")
      ->check(CLI::Validator(duration_option{&rate.engine.settlement}, "DURATION"));
  r->add_option("--max-future", "How far event time may run ahead of the clock (default 300s)")
      ->check(CLI::Validator(duration_option{&rate.engine.decoder.max_future}, "DURATION"));
  r->add_option("--max-event-bytes", rate.engine.decoder.max_event_bytes,
                "Larger events are dead letters (default 65536)");
  r->add_option("--state", state, "State store: rocksdb (default) or memory")
      ->check(CLI::IsMember({"rocksdb", "memory"}));
  r->add_option("--state-dir", rate.state_dir,
                "RocksDB directory (default: a temporary one, removed afterwards)");
  r->add_option("--commit-every", rate.commit_every, "Events between state commits (default 200000)")
      ->check(CLI::PositiveNumber);

  std::string catalog_path;
  auto* cc = app.add_subcommand("check-catalog", "Validate a catalog and print what each plan charges");
  cc->add_option("catalog", catalog_path, "Catalog file (JSON)")->required();

  std::vector<std::string> totals_files;
  auto* tot = app.add_subcommand(
      "totals", "Sum charges and adjustments per tenant|period_start|kind|meter, each id once");
  auto* tot_files = tot->add_option("files", totals_files, "JSONL files of charge and adjustment records")
      ->check(CLI::ExistingFile);
  topic_totals_options topic_totals;
  auto* tot_bootstrap = tot->add_option("--bootstrap", topic_totals.bootstrap,
                                        "Read topics from this Kafka cluster instead of files")
                            ->excludes(tot_files);
  tot->add_option("--topics", topic_totals.topics, "Topics to read, comma-separated")
      ->delimiter(',')
      ->needs(tot_bootstrap);
  tot->add_option("--timeout", "How long reading to the end may take (default 60s)")
      ->check(CLI::Validator(duration_option{&topic_totals.timeout}, "DURATION"));
  tot->add_option("-X", topic_totals.kafka_settings, "librdkafka setting key=value (repeatable)");
  tot->footer(totals_help);

  dev_cluster_options dev;
  tail_options tail;
  auto* tl = app.add_subcommand("tail", "Print every record a topic holds now, as JSON lines (key, value, headers)");
  tl->add_option("--bootstrap", tail.bootstrap, "bootstrap.servers")->required();
  tl->add_option("--topic", tail.topics, "Topic to read (repeatable)")->required();

  run_command_options run_opts;
  auto* rn = app.add_subcommand("run", "Run the stream processor on Kafka (embedded cluster without bootstrap.servers)");
  rn->add_option("--config", run_opts.config_path, "Properties file (Kafka Streams style)")
      ->check(CLI::ExistingFile);
  rn->add_option("--set", run_opts.overrides, "Override a property: --set grace.ms=60000");
  rn->add_flag("--until-caught-up", run_opts.until_caught_up,
               "Exit once this instance owns every partition and has read, committed and "
               "published all of it (benchmarks, batch jobs)");
  rn->add_option("--report", run_opts.report_path,
                 "At exit, write figures of the run as JSON (records, events_per_s, commit "
                 "latency p50/p99, peak RSS)");

  auto* dc = app.add_subcommand(
      "dev-cluster", "Run a development Kafka cluster on 127.0.0.1 (librdkafka's mock brokers)");
  dc->add_option("--brokers", dev.brokers, "Number of brokers (default 3)")->check(CLI::Range(1, 32));
  dc->add_option("--topic", dev.topics, "Create a topic NAME:PARTITIONS (repeatable)");
  dc->add_option("--port", dev.port, "Fixed bootstrap port on 127.0.0.1 (forwards to the first broker that is up)")
      ->check(CLI::Range(1, 65535));
  dc->add_option("--bootstrap-file", dev.bootstrap_file,
                 "Also write the bootstrap address to this file (removed on exit)");
  dc->add_flag("--ignore-stdin", dev.ignore_stdin,
               "Read no commands; run until SIGTERM/SIGINT (for background jobs)");
  dc->footer(dev_cluster_help);

  produce_options produce;
  auto* pr = app.add_subcommand("produce", "Produce each line of a JSONL file as one record");
  pr->add_option("--bootstrap", produce.bootstrap, "Kafka bootstrap servers")->required();
  pr->add_option("--topic", produce.topic, "Target topic")->required();
  pr->add_option("file", produce.file, "JSONL file (one record per non-blank line)")
      ->required()
      ->check(CLI::ExistingFile);
  pr->add_option("--key-field", produce.key_field,
                 "Top-level string member used as the key (default subject; else a null key)");
  pr->add_option("--partition", produce.partition,
                 "Produce every record to this partition (default: by key)");
  pr->add_flag("--partitions-from-topic", produce.partitions_from_topic,
               "Look the topic up first and fail if it does not exist (no auto-creation)");
  pr->add_option("--timeout", "How long to wait for all acknowledgements (default 60s)")
      ->check(CLI::Validator(duration_option{&produce.timeout}, "DURATION"));
  pr->add_option("-X", produce.kafka_settings, "librdkafka setting key=value (repeatable)");

  bench_options bench;
  auto* bn = app.add_subcommand(
      "bench", "Measure the offline engine, the Kafka ceiling and meterflow run end to end");
  bn->add_flag("--quick", bench.quick, "Small sizes: all of it in under a minute (the figures mean little)");
  bn->add_option("--json", bench.json_path, "Also write the figures as JSON to this file");
  bn->add_option("--hours", bench.hours, "Hours of event time the events span (default 24; fewer: denser windows)")
      ->check(CLI::Range(1, 4416));
  bn->add_option("--runs", bench.runs, "Runs of every measurement (default 3)")->check(CLI::Range(1, 99));
  bn->add_option("--tmp", bench.tmp_dir, "Scratch directory (default $TMPDIR, else /tmp)");
  bn->add_flag("--keep", bench.keep, "Keep the scratch directory (logs, reports, state)");
  // The bench's child processes (bench_children.h, detail/child_process.h): hidden.
  bench_offline_options bench_offline;
  auto* bo = bn->add_subcommand("offline")->group("");
  bo->add_option("--workload", bench_offline.workload_dir)->required();
  bo->add_option("--state", bench_offline.state)->required()->check(CLI::IsMember({"memory", "rocksdb"}));
  bo->add_option("--scratch", bench_offline.scratch_dir)->required();
  bo->add_option("--report", bench_offline.report_path)->required();
  bench_pipe_options bench_pipe;
  auto* bp = bn->add_subcommand("pipe")->group("");
  bp->add_option("--bootstrap", bench_pipe.bootstrap)->required();
  bp->add_option("--input", bench_pipe.input_topic)->required();
  bp->add_option("--output", bench_pipe.output_topic)->required();
  bp->add_option("--report", bench_pipe.report_path)->required();
  std::string measure_rusage;
  std::vector<std::string> measure_command;
  auto* bm = bn->add_subcommand("measure")->group("");
  bm->add_option("--rusage", measure_rusage)->required();
  bm->add_option("command", measure_command)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*r) {
    rate.state = state == "memory" ? state_backend::memory : state_backend::rocksdb;
    return cmd_rate(rate);
  }
  if (*cc) return cmd_check_catalog(catalog_path);
  if (*tot) {
    if (!topic_totals.bootstrap.empty()) {
      if (topic_totals.topics.empty()) {
        std::fprintf(stderr, "meterflow totals: --bootstrap needs --topics\n");
        return 2;
      }
      return run_totals(topic_totals);
    }
    if (totals_files.empty()) {
      std::fprintf(stderr, "meterflow totals: give JSONL files, or --bootstrap and --topics\n");
      return 2;
    }
    return cmd_totals(totals_files);
  }
  if (*rn) return run_run(run_opts);
  if (*tl) return run_tail(tail);
  if (*dc) return run_dev_cluster(dev);
  if (*pr) return run_produce(produce);
  if (*bo) return run_bench_offline(bench_offline);
  if (*bp) return run_bench_pipe(bench_pipe);
  if (*bm) return detail::run_measure_command(measure_rusage, measure_command);
  if (*bn) return run_bench(bench);
  return 2;
}
