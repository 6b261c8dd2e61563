#include "processor/runtime/run_options.h"

#include <charconv>
#include <functional>
#include <map>

#include "processor/kafka/client.h"

namespace meterflow {

namespace {

result<int64_t> parse_int(const kafka::property& p, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
  if (ec != std::errc() || end != p.value.data() + p.value.size() || v < min || v > max)
    return fail(p.origin, ": ", p.key, " must be an integer from ", std::to_string(min), " to ",
                std::to_string(max), ", not \"", p.value, "\"");
  return v;
}

result<millis> parse_ms(const kafka::property& p) {
  auto d = parse_duration(p.value);
  if (!d) return fail(p.origin, ": ", p.key, ": ", d.error().message);
  return *d;
}

}  // namespace

result<run_options> run_options::from_properties(const kafka::properties& props) {
  run_options o;
  using setter = std::function<result<void>(const kafka::property&)>;
  auto text = [](std::string& field) {
    return setter([&field](const kafka::property& p) -> result<void> {
      if (p.value.empty()) return fail(p.origin, ": ", p.key, " must not be empty");
      field = p.value;
      return {};
    });
  };
  auto duration = [](millis& field) {
    return setter([&field](const kafka::property& p) -> result<void> {
      auto d = parse_ms(p);
      if (!d) return std::unexpected(d.error());
      field = *d;
      return {};
    });
  };
  auto integer = [](auto& field, int64_t min, int64_t max) {
    return setter([&field, min, max](const kafka::property& p) -> result<void> {
      auto v = parse_int(p, min, max);
      if (!v) return std::unexpected(v.error());
      field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
      return {};
    });
  };
  const std::map<std::string, setter, std::less<>> known = {
      {"application.id", text(o.application_id)},
      {"bootstrap.servers", text(o.bootstrap_servers)},
      {"state.dir", text(o.state_dir)},
      {"processing.guarantee",
       [&o](const kafka::property& p) -> result<void> {
         if (p.value == "at_least_once") o.guarantee = processing_guarantee::at_least_once;
         else if (p.value == "exactly_once_v2") o.guarantee = processing_guarantee::exactly_once_v2;
         else return fail(p.origin, ": processing.guarantee must be at_least_once or exactly_once_v2");
         return {};
       }},
      {"num.standby.replicas", integer(o.num_standby_replicas, 0, 16)},
      {"num.stream.threads", integer(o.num_stream_threads, 1, 256)},
      {"commit.interval.ms", duration(o.commit_interval)},
      {"commit.records", integer(o.commit_records, 1, 10'000'000)},
      {"state.flush.interval.ms", duration(o.state_flush_interval)},
      {"catalog", text(o.catalog_path)},
      {"window.size.ms", duration(o.engine.window)},
      {"grace.ms", duration(o.engine.grace)},
      {"settlement.window.ms", duration(o.engine.settlement)},
      {"max.future.ms", duration(o.engine.decoder.max_future)},
      {"max.event.bytes", integer(o.engine.decoder.max_event_bytes, 1, 64 << 20)},
      {"idle.close.ms", duration(o.idle_close)},
      {"metrics.address", text(o.metrics_address)},
      {"input.topic", text(o.input_topic)},
      {"subscriptions.topic", text(o.subscriptions_topic)},
      {"charges.topic", text(o.charges_topic)},
      {"adjustments.topic", text(o.adjustments_topic)},
      {"alerts.topic", text(o.alerts_topic)},
      {"dlq.topic", text(o.dlq_topic)},
      {"dev.cluster.brokers", integer(o.dev_cluster_brokers, 1, 9)},
      {"dev.cluster.partitions", integer(o.dev_cluster_partitions, 1, 256)},
  };
  for (const kafka::property& p : props) {
    if (p.key.starts_with("kafka.")) {
      o.kafka.set(p.key.substr(6), p.value, p.origin);
      continue;
    }
    auto it = known.find(p.key);
    if (it == known.end())
      return fail(p.origin, ": unknown property \"", p.key,
                  "\" (librdkafka settings take the prefix kafka., e.g. kafka.security.protocol)");
    if (auto r = it->second(p); !r) return std::unexpected(r.error());
  }
  if (auto v = o.validate(); !v) return std::unexpected(v.error());
  return o;
}

result<std::unique_ptr<kafka::consumer>> make_reader(const run_options& o, const std::string& bootstrap,
                                                     const std::string& purpose) {
  kafka::consumer_options co;
  co.bootstrap = bootstrap;
  co.group_id = o.application_id + "-" + purpose;
  co.settings = o.kafka;
  co.settings.set("fetch.wait.max.ms", "50");
  co.settings.set("enable.partition.eof", "true");
  return kafka::consumer::create(co);
}

result<void> run_options::validate() const {
  if (catalog_path.empty()) return fail("the property catalog (the pricing catalog file) is required");
  if (commit_interval.count() <= 0) return fail("commit.interval.ms must be positive");
  if (state_flush_interval.count() < 0) return fail("state.flush.interval.ms must not be negative");
  return engine.validate();
}

}  // namespace meterflow
