#include "processor/runtime/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <exception>

namespace meterflow {

struct metrics::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  prometheus::Counter* processed = nullptr;
  prometheus::Counter* skipped = nullptr;
  prometheus::Histogram* commit = nullptr;
  prometheus::Family<prometheus::Gauge>* events = nullptr;
  prometheus::Family<prometheus::Gauge>* tasks = nullptr;
  prometheus::Family<prometheus::Gauge>* restore_seconds = nullptr;
  prometheus::Family<prometheus::Gauge>* restore_records = nullptr;
};

metrics::metrics() : impl_(std::make_unique<impl>()) {
  auto& r = *impl_->registry;
  impl_->processed = &prometheus::BuildCounter()
                          .Name("meterflow_records_processed_total")
                          .Help("Input records processed")
                          .Register(r)
                          .Add({});
  impl_->skipped = &prometheus::BuildCounter()
                        .Name("meterflow_input_offsets_skipped_total")
                        .Help("Input offsets a task's records jumped over (transaction markers, or records never received)")
                        .Register(r)
                        .Add({});
  impl_->commit = &prometheus::BuildHistogram()
                       .Name("meterflow_commit_duration_seconds")
                       .Help("Commit cycles that wrote something: state, changelog, outputs")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{
                                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  impl_->events = &prometheus::BuildGauge()
                       .Name("meterflow_events")
                       .Help("Events by outcome over the tasks this instance runs")
                       .Register(r);
  impl_->tasks = &prometheus::BuildGauge().Name("meterflow_tasks").Help("Tasks on this instance").Register(r);
  impl_->restore_seconds = &prometheus::BuildGauge()
                                .Name("meterflow_task_restore_seconds")
                                .Help("Duration of the last restore of a task from its changelog")
                                .Register(r);
  impl_->restore_records = &prometheus::BuildGauge()
                                .Name("meterflow_task_restore_records")
                                .Help("Changelog records replayed by the last restore of a task")
                                .Register(r);
}

metrics::~metrics() = default;

result<std::unique_ptr<metrics>> metrics::create(const std::string& address) {
  std::unique_ptr<metrics> m(new metrics());
  if (address.empty()) return m;
  try {
    m->impl_->exposer = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return fail("metrics.address ", address, ": ", e.what());
  }
  m->impl_->exposer->RegisterCollectable(m->impl_->registry);
  return m;
}

void metrics::processed(int64_t records) { impl_->processed->Increment(static_cast<double>(records)); }

void metrics::skipped(int64_t offsets) { impl_->skipped->Increment(static_cast<double>(offsets)); }

void metrics::committed(std::chrono::microseconds took) {
  impl_->commit->Observe(static_cast<double>(took.count()) / 1e6);
}

void metrics::restored(int32_t partition, std::string_view kind, int64_t records, millis took) {
  const prometheus::Labels labels{{"partition", std::to_string(partition)}, {"kind", std::string(kind)}};
  impl_->restore_seconds->Add(labels).Set(static_cast<double>(took.count()) / 1000.0);
  impl_->restore_records->Add(labels).Set(static_cast<double>(records));
}

void metrics::tasks(size_t active, size_t standby) {
  impl_->tasks->Add({{"kind", "active"}}).Set(static_cast<double>(active));
  impl_->tasks->Add({{"kind", "standby"}}).Set(static_cast<double>(standby));
}

void metrics::events(const engine_counters& c) {
  int64_t dead = 0;
  for (int64_t n : c.dead_letters) dead += n;
  impl_->events->Add({{"outcome", "accepted"}}).Set(static_cast<double>(c.accepted));
  impl_->events->Add({{"outcome", "duplicate"}}).Set(static_cast<double>(c.duplicates));
  impl_->events->Add({{"outcome", "dead_letter"}}).Set(static_cast<double>(dead));
}

}  // namespace meterflow
