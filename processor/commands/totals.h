// `meterflow totals --bootstrap B --topics T1,T2`: the reference downstream ledger, reading the
// output topics instead of files.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace meterflow {

struct topic_totals_options {
  // bootstrap.servers. Required.
  std::string bootstrap;
  // Topics of charge and adjustment records, e.g. rated-charges and charge-adjustments.
  std::vector<std::string> topics;
  // How long reading up to the end may take before it fails. Default: 60 s.
  std::chrono::milliseconds timeout{60'000};
  // librdkafka settings, "key=value" each (TLS, SASL, isolation.level, ...). Default: none.
  std::vector<std::string> kafka_settings;
};

// The contract, also shown by --help (see totals_help).
extern const char* const totals_help;

// Returns 0 on success, 1 if some id was seen with two different contents, 2 on errors.
int run_totals(const topic_totals_options& options);

}  // namespace meterflow
