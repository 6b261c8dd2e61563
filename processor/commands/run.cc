#include "processor/commands/run.h"

#include <csignal>
#include <cstdio>

#include "processor/kafka/config.h"
#include "processor/kafka/dev_cluster.h"
#include "processor/runtime/runtime.h"

namespace meterflow {

namespace {

run_signals* active_signals = nullptr;

extern "C" void on_signal(int signal) {
  if (!active_signals) return;
  if (signal == SIGHUP)
    active_signals->reload.store(true);
  else
    active_signals->stop.store(true);
}

}  // namespace

int run_run(const run_command_options& o) {
  auto props = o.config_path.empty() ? result<kafka::properties>(kafka::properties{})
                                     : kafka::properties::load(o.config_path);
  if (!props) {
    std::fprintf(stderr, "meterflow run: %s\n", props.error().message.c_str());
    return 2;
  }
  auto overrides = kafka::parse_settings(o.overrides, "--set");
  if (!overrides) {
    std::fprintf(stderr, "meterflow run: %s\n", overrides.error().message.c_str());
    return 2;
  }
  for (const auto& p : *overrides) props->set(p.key, p.value, p.origin);
  auto options = run_options::from_properties(*props);
  if (!options) {
    std::fprintf(stderr, "meterflow run: %s\n", options.error().message.c_str());
    return 2;
  }

  std::unique_ptr<kafka::dev_cluster> cluster;
  std::string bootstrap = options->bootstrap_servers;
  if (bootstrap.empty()) {
    auto c = kafka::dev_cluster::create(options->dev_cluster_brokers);
    if (!c) {
      std::fprintf(stderr, "meterflow run: embedded cluster: %s\n", c.error().message.c_str());
      return 1;
    }
    cluster = std::move(*c);
    for (const std::string& topic :
         {options->input_topic, options->subscriptions_topic, options->charges_topic,
          options->adjustments_topic, options->alerts_topic, options->dlq_topic,
          options->changelog_topic()}) {
      if (auto r = cluster->create_topic(topic, options->dev_cluster_partitions); !r) {
        std::fprintf(stderr, "meterflow run: embedded cluster: %s\n", r.error().message.c_str());
        return 1;
      }
    }
    bootstrap = cluster->bootstraps();
    std::printf("%s\n", bootstrap.c_str());
    std::fflush(stdout);
    std::fprintf(stderr,
                 "meterflow run: no bootstrap.servers: started an embedded development cluster at %s "
                 "(%d broker(s), %d partitions per topic; in memory, gone when meterflow stops)\n",
                 bootstrap.c_str(), options->dev_cluster_brokers, options->dev_cluster_partitions);
  }

  run_signals signals;
  active_signals = &signals;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGHUP, on_signal);
  run_controls controls;
  controls.until_caught_up = o.until_caught_up;
  auto r = run_processor(*options, bootstrap, signals, controls);
  active_signals = nullptr;
  if (!r) {
    std::fprintf(stderr, "meterflow run: stopped: %s\n", r.error().message.c_str());
    return 1;
  }
  if (!o.report_path.empty()) {
    std::FILE* f = std::fopen(o.report_path.c_str(), "w");
    if (!f || std::fputs(r->to_json().c_str(), f) < 0 || std::fclose(f) != 0) {
      std::fprintf(stderr, "meterflow run: cannot write %s\n", o.report_path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace meterflow
