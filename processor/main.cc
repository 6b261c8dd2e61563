// The meterflow command line. Exceptions stop here: every command reports errors as one
// sentence on stderr and a non-zero exit status.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

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
  r->add_option("--commit-every", rate.commit_every, "Events between state commits (default 50000)")
      ->check(CLI::PositiveNumber);

  std::string catalog_path;
  auto* cc = app.add_subcommand("check-catalog", "Validate a catalog and print what each plan charges");
  cc->add_option("catalog", catalog_path, "Catalog file (JSON)")->required();

  std::vector<std::string> totals_files;
  auto* tot = app.add_subcommand(
      "totals", "Sum charges and adjustments per tenant|period_start|kind|meter, each id once");
  tot->add_option("files", totals_files, "JSONL files of charge and adjustment records")
      ->required()
      ->check(CLI::ExistingFile);

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
  if (*tot) return cmd_totals(totals_files);
  return 2;
}
