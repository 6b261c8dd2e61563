#include "processor/commands/totals.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "processor/kafka/client.h"
#include "processor/totals.h"
#include "topology/json_writer.h"

namespace meterflow {

const char* const totals_help = R"(
With --bootstrap and --topics, reads the topics instead of files. The contract of this reference
ledger consumer (write your own ledger sink the same way):
  - It reads every partition of every topic from its low watermark up to the high watermark
    taken at start (assign + seek, no consumer group, nothing committed); records produced
    later are not included. With isolation.level=read_committed (the default) it sees only
    committed transactional records (on a real broker; the development cluster also shows
    aborted and open ones).
  - A record is identified by its `id`. Each id is applied once; a repeat with the same bytes
    is a replay and is only counted ("repeated"); a repeat with different bytes is a bug
    upstream, listed in "conflicts" and the exit status is 1.
  - Charges and adjustments add up by simple addition of `amount` per
    tenant|period_start|kind|meter (period start in UTC); an adjustment with
    applies_to=next_period keeps the period_start of the period it corrects.
  - It prints one JSON object: {"totals": {...}, "records": n, "repeated": n, "conflicts": [...],
    "topics": {topic: {"partitions": n, "records": n, "unavailable": n}}}; "unavailable" counts
    offsets below the low watermarks (records deleted by retention before they were read: the
    totals miss them, and a warning says so).
  - A record that is not a charge or adjustment, or a partition that does not reach its end
    within --timeout, is an error (exit status 2).
)";

namespace {

struct partition_progress {
  std::string topic;
  kafka::partition_id partition;
  kafka::kafka_offset end;  // the high watermark at start
};

struct topic_count {
  int partitions = 0;
  int64_t records = 0;
  int64_t unavailable = 0;
};

}  // namespace

int run_totals(const topic_totals_options& o) {
  auto error = [](const std::string& message) {
    std::fprintf(stderr, "meterflow totals: %s\n", message.c_str());
    return 2;
  };
  if (o.topics.empty()) return error("--topics names no topic");
  auto settings = kafka::parse_settings(o.kafka_settings, "-X");
  if (!settings) return error(settings.error().message);

  kafka::consumer_options co;
  co.bootstrap = o.bootstrap;
  co.group_id = "meterflow-totals";  // required by librdkafka; never joined, nothing committed
  co.settings.set("enable.partition.eof", "true");
  // If retention deletes records between reading the watermarks and fetching them, fail rather
  // than silently skip.
  co.settings.set("auto.offset.reset", "error");
  for (const auto& s : *settings) co.settings.set(s.key, s.value, s.origin);
  auto consumer = kafka::consumer::create(co);
  if (!consumer) return error(consumer.error().message);
  auto& c = **consumer;

  auto deadline = std::chrono::steady_clock::now() + o.timeout;
  auto remaining = [&] {
    return std::max(kafka::millis(1), std::chrono::duration_cast<kafka::millis>(
                                          deadline - std::chrono::steady_clock::now()));
  };

  std::map<std::string, topic_count> counts;
  std::map<kafka::topic_partition, kafka::kafka_offset> pending;  // partition -> end offset
  std::vector<kafka::topic_partition_offset> start;
  for (const auto& topic : o.topics) {
    if (counts.contains(topic)) continue;
    auto partitions = c.partition_count(topic, remaining());
    if (!partitions) return error(partitions.error().message);
    topic_count& tc = counts[topic];
    tc.partitions = *partitions;
    for (int p = 0; p < *partitions; ++p) {
      kafka::topic_partition tp{topic, kafka::partition_id{p}};
      auto marks = c.query_watermarks(tp, remaining());
      if (!marks) return error(marks.error().message);
      tc.unavailable += marks->low.value;
      if (marks->high.value > marks->low.value) {
        pending.emplace(tp, marks->high);
        start.push_back({topic, tp.partition, marks->low});
      }
    }
  }
  if (auto r = c.assign(start); !r) return error(r.error().message);

  ledger_totals ledger;
  while (!pending.empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string which;
      for (const auto& [tp, end] : pending)
        which += (which.empty() ? "" : ", ") + kafka::to_string(tp) + " (end " +
                 std::to_string(end.value) + ")";
      return error("did not reach the end of " + which + " within " +
                   std::to_string(o.timeout.count()) +
                   " ms (an open transaction holds read_committed readers back; brokers down?)");
    }
    auto polled = c.poll(std::min(remaining(), kafka::millis(500)));
    if (!polled) return error(polled.error().message);
    if (!*polled) continue;
    const kafka::message& m = **polled;
    kafka::topic_partition tp{std::string(m.topic()), m.partition()};
    auto it = pending.find(tp);
    if (it == pending.end()) continue;  // already at its end: later records are not ours
    if (m.is_partition_eof()) {
      if (m.offset() >= it->second) pending.erase(it);
      continue;
    }
    auto value = m.value();
    std::string where = kafka::to_string(tp) + "@" + std::to_string(m.offset().value);
    if (!value) return error(where + ": a record without a value");
    if (auto r = ledger.apply(*value); !r) return error(where + ": " + r.error().message);
    ++counts[tp.topic].records;
    if (m.offset().value + 1 >= it->second.value) pending.erase(it);
  }
  if (auto r = c.close(); !r) return error(r.error().message);

  // ledger_totals' object, extended with the per-topic counts.
  std::string out = ledger.to_json();
  out.pop_back();  // its closing '}'
  std::string topics;
  json_writer w(topics);
  w.begin_object();
  for (const auto& [topic, tc] : counts) {
    w.key(topic).begin_object();
    w.member("partitions", static_cast<int64_t>(tc.partitions));
    w.member("records", tc.records);
    w.member("unavailable", tc.unavailable);
    w.end_object();
    if (tc.unavailable > 0)
      std::fprintf(
          stderr,
          "meterflow totals: warning: %s: %lld earlier offsets are no longer retained; these "
          "totals miss whatever they held\n",
          topic.c_str(), static_cast<long long>(tc.unavailable));
  }
  w.end_object();
  out += ",\"topics\":" + topics + "}";
  std::printf("%s\n", out.c_str());
  if (!ledger.conflicts().empty()) {
    std::fprintf(stderr, "meterflow totals: %zu ids were seen with two different contents\n",
                 ledger.conflicts().size());
    return 1;
  }
  return 0;
}

}  // namespace meterflow
