#include "processor/commands/topic_reader.h"

namespace meterflow {

result<std::map<std::string, topic_count>> read_topics_to_end(
    const std::string& bootstrap, const std::vector<std::string>& topics,
    const kafka::properties& settings, std::chrono::milliseconds timeout,
    const std::function<result<void>(const kafka::message&)>& on_record) {
  kafka::consumer_options co;
  co.bootstrap = bootstrap;
  co.group_id = "meterflow-reader";  // required by librdkafka; never joined, nothing committed
  co.settings.set("enable.partition.eof", "true");
  // If retention deletes records between reading the watermarks and fetching them, fail rather
  // than silently skip.
  co.settings.set("auto.offset.reset", "error");
  for (const auto& s : settings) co.settings.set(s.key, s.value, s.origin);
  auto consumer = kafka::consumer::create(co);
  if (!consumer) return std::unexpected(consumer.error());
  auto& c = **consumer;

  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining = [&] {
    return std::max(kafka::millis(1), std::chrono::duration_cast<kafka::millis>(
                                          deadline - std::chrono::steady_clock::now()));
  };

  std::map<std::string, topic_count> counts;
  std::map<kafka::topic_partition, kafka::kafka_offset> pending;  // partition -> end offset
  std::vector<kafka::topic_partition_offset> start;
  for (const auto& topic : topics) {
    if (counts.contains(topic)) continue;
    auto partitions = c.partition_count(topic, remaining());
    if (!partitions) return std::unexpected(partitions.error());
    topic_count& tc = counts[topic];
    tc.partitions = *partitions;
    for (int p = 0; p < *partitions; ++p) {
      kafka::topic_partition tp{topic, kafka::partition_id{p}};
      auto marks = c.query_watermarks(tp, remaining());
      if (!marks) return std::unexpected(marks.error());
      tc.unavailable += marks->low.value;
      if (marks->high.value > marks->low.value) {
        pending.emplace(tp, marks->high);
        start.push_back({topic, tp.partition, marks->low});
      }
    }
  }
  if (auto r = c.assign(start); !r) return std::unexpected(r.error());

  while (!pending.empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string which;
      for (const auto& [tp, end] : pending)
        which += (which.empty() ? "" : ", ") + kafka::to_string(tp) + " (end " +
                 std::to_string(end.value) + ")";
      return fail("did not reach the end of ", which, " within ", std::to_string(timeout.count()),
                  " ms (an open transaction holds read_committed readers back; brokers down?)");
    }
    auto polled = c.poll(std::min(remaining(), kafka::millis(500)));
    if (!polled) return std::unexpected(polled.error());
    if (!*polled) continue;
    const kafka::message& m = **polled;
    kafka::topic_partition tp{std::string(m.topic()), m.partition()};
    auto it = pending.find(tp);
    if (it == pending.end()) continue;  // already at its end: later records are not ours
    if (m.is_partition_eof()) {
      if (m.offset() >= it->second) pending.erase(it);
      continue;
    }
    if (auto r = on_record(m); !r)
      return fail(kafka::to_string(tp), "@", std::to_string(m.offset().value), ": ", r.error().message);
    ++counts[tp.topic].records;
    if (m.offset().value + 1 >= it->second.value) pending.erase(it);
  }
  if (auto r = c.close(); !r) return std::unexpected(r.error());
  return counts;
}

}  // namespace meterflow
