#include "processor/commands/bench_children.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "processor/kafka/client.h"
#include "processor/offline_rate.h"
#include "topology/json_writer.h"

namespace meterflow {

namespace {

namespace fs = std::filesystem;

int failed(const char* command, const std::string& message) {
  std::fprintf(stderr, "meterflow bench %s: %s\n", command, message.c_str());
  return 2;
}

result<void> write_report(const std::string& path, const std::string& json) {
  std::ofstream out(path);
  out << json << '\n';
  if (!out.flush()) return fail(path, ": cannot write the report");
  return {};
}

int64_t per_second(int64_t count, int64_t ns) {
  return ns > 0 ? static_cast<int64_t>(static_cast<__int128>(count) * 1'000'000'000 / ns) : 0;
}

int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

int run_bench_offline(const bench_offline_options& o) {
  const fs::path workload(o.workload_dir), scratch(o.scratch_dir);
  std::error_code ec;
  fs::create_directories(scratch, ec);
  if (ec) return failed("offline", scratch.string() + ": " + ec.message());
  rate_options ro;
  ro.catalog_path = (workload / "catalog.json").string();
  ro.subscriptions_path = (workload / "subscriptions.jsonl").string();
  ro.events_path = (workload / "events.jsonl").string();
  ro.out_path = (scratch / "charges.jsonl").string();
  ro.dlq_path = (scratch / "dlq.jsonl").string();
  ro.state = o.state == "memory" ? state_backend::memory : state_backend::rocksdb;
  ro.state_dir = (scratch / "state").string();
  auto s = run_rate(ro);
  if (!s) return failed("offline", s.error().message);

  std::string json;
  json_writer w(json);
  w.begin_object()
      .member("records", s->input_lines)
      .member("accepted", s->counters.accepted)
      .member("elapsed_ns", s->elapsed_ns)
      .member("events_per_s", per_second(s->input_lines, s->elapsed_ns))
      .end_object();
  if (auto r = write_report(o.report_path, json); !r) return failed("offline", r.error().message);
  return 0;
}

int run_bench_pipe(const bench_pipe_options& o) {
  auto error = [](const std::string& message) { return failed("pipe", message); };
  const kafka::millis timeout(30'000);
  kafka::consumer_options co;
  co.bootstrap = o.bootstrap;
  co.group_id = "meterflow-bench-pipe";
  co.settings.set("enable.partition.eof", "true");  // as the runtime's consumer
  co.settings.set("fetch.wait.max.ms", "100");
  auto consumer = kafka::consumer::create(co);
  if (!consumer) return error(consumer.error().message);
  kafka::producer_options po;
  po.bootstrap = o.bootstrap;
  auto producer = kafka::producer::create(po);
  if (!producer) return error(producer.error().message);

  auto partitions = (*consumer)->partition_count(o.input_topic, timeout);
  if (!partitions) return error(o.input_topic + ": " + partitions.error().message);
  std::vector<int64_t> end(static_cast<size_t>(*partitions));
  std::vector<kafka::topic_partition_offset> all;
  int unfinished = 0;
  for (int p = 0; p < *partitions; ++p) {
    auto wm = (*consumer)->query_watermarks({o.input_topic, kafka::partition_id{p}}, timeout);
    if (!wm) return error(wm.error().message);
    end[static_cast<size_t>(p)] = wm->high.value;
    if (wm->high.value > wm->low.value) ++unfinished;
    all.push_back({o.input_topic, kafka::partition_id{p}, kafka::kafka_offset::beginning()});
  }
  // Before the clock starts, as meterflow's producer is by its first record: connected, with its
  // idempotent producer id.
  if (auto r = (*producer)->produce(o.output_topic + "-warmup", kafka::partition_id{0}, "warmup", "");
      !r)
    return error(r.error().message);
  if (auto r = (*producer)->flush(timeout); !r) return error(r.error().message);
  const int64_t warmup = (*producer)->delivered();
  // And with the output topic's partitions known, as meterflow's stream threads look theirs up
  // before they start: else the first ~100,000 records wait in the producer's queue for that
  // metadata (the queue fills, produce() blocks: ~0.8 s).
  if (auto r = kafka::fetch_partition_count((*producer)->native(), o.output_topic, timeout); !r)
    return error(o.output_topic + ": " + r.error().message);
  if (auto r = (*consumer)->assign(all); !r) return error(r.error().message);

  int64_t records = 0;
  std::chrono::system_clock::time_point first{};
  std::chrono::steady_clock::time_point first_steady{};
  while (unfinished > 0) {
    auto m = (*consumer)->poll(kafka::millis(1'000));
    if (!m) return error(m.error().message);
    if (!*m || (*m)->is_partition_eof()) continue;
    if (records == 0) {
      first = std::chrono::system_clock::now();
      first_steady = std::chrono::steady_clock::now();
    }
    auto value = (*m)->value();
    if (auto r = (*producer)->produce(o.output_topic, kafka::partition_id::unassigned(),
                                      (*m)->key(), value ? *value : std::string_view{});
        !r)
      return error(r.error().message);
    if (++records % 1024 == 0) (*producer)->poll();  // serve delivery reports as meterflow does
    if ((*m)->offset().value + 1 == end[static_cast<size_t>((*m)->partition().value)]) --unfinished;
  }
  if (auto r = (*producer)->flush(kafka::millis(60'000)); !r) return error(r.error().message);
  const auto last_ack = std::chrono::system_clock::now();
  const int64_t elapsed_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                           first_steady)
          .count();

  std::string json;
  json_writer w(json);
  w.begin_object()
      .member("records", records)
      .member("delivered", (*producer)->delivered() - warmup)
      .member("first_record_ms", epoch_ms(first))
      .member("last_ack_ms", epoch_ms(last_ack))
      .member("elapsed_ns", elapsed_ns)
      .member("events_per_s", per_second(records, elapsed_ns))
      .end_object();
  if (auto r = write_report(o.report_path, json); !r) return error(r.error().message);
  return 0;
}

}  // namespace meterflow
