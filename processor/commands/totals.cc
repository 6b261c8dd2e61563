#include "processor/commands/totals.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "processor/commands/topic_reader.h"
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

int run_totals(const topic_totals_options& o) {
  auto error = [](const std::string& message) {
    std::fprintf(stderr, "meterflow totals: %s\n", message.c_str());
    return 2;
  };
  if (o.topics.empty()) return error("--topics names no topic");
  auto settings = kafka::parse_settings(o.kafka_settings, "-X");
  if (!settings) return error(settings.error().message);

  ledger_totals ledger;
  auto counts = read_topics_to_end(o.bootstrap, o.topics, *settings, o.timeout,
                                   [&](const kafka::message& m) -> result<void> {
                                     auto value = m.value();
                                     if (!value) return fail("a record without a value");
                                     return ledger.apply(*value);
                                   });
  if (!counts) return error(counts.error().message);

  // ledger_totals' object, extended with the per-topic counts.
  std::string out = ledger.to_json();
  out.pop_back();  // its closing '}'
  std::string topics;
  json_writer w(topics);
  w.begin_object();
  for (const auto& [topic, tc] : *counts) {
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
