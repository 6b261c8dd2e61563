#include "processor/commands/produce.h"

#include <simdjson.h>

#include <cstdio>
#include <optional>
#include <string_view>

#include "processor/kafka/client.h"
#include "processor/line_reader.h"

namespace meterflow {

namespace {

namespace od = simdjson::ondemand;

// Finds a top-level string member of a JSON line with simdjson On-Demand, reusing one padded
// buffer. Anything short of a JSON object with that member as a string gives nullopt: such
// lines are still produced (with a null key) — the processor dead-letters them.
class key_extractor {
 public:
  explicit key_extractor(std::string field) : field_(std::move(field)) {}

  std::optional<std::string_view> operator()(std::string_view line) {
    buffer_.assign(line);
    buffer_.resize(line.size() + simdjson::SIMDJSON_PADDING, '\0');
    od::document doc;
    od::object obj;
    std::string_view value;
    if (parser_.iterate(buffer_.data(), line.size(), buffer_.size()).get(doc) ||
        doc.get_object().get(obj) || obj.find_field_unordered(field_).get_string().get(value))
      return std::nullopt;
    key_.assign(value);  // the parser's string buffer is reused by the next line
    return std::string_view(key_);
  }

 private:
  std::string field_;
  od::parser parser_;
  std::string buffer_;
  std::string key_;
};

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
}

}  // namespace

int run_produce(const produce_options& o) {
  auto error = [](const std::string& message) {
    std::fprintf(stderr, "meterflow produce: %s\n", message.c_str());
    return 2;
  };
  auto settings = kafka::parse_settings(o.kafka_settings, "-X");
  if (!settings) return error(settings.error().message);
  kafka::producer_options po;
  po.bootstrap = o.bootstrap;
  po.settings = std::move(*settings);
  po.delivery_timeout = o.timeout;
  auto producer = kafka::producer::create(po);
  if (!producer) return error(producer.error().message);

  if (o.partition < -1) return error("--partition must be a partition number (or -1: by key)");
  int partitions = 0;
  if (o.partitions_from_topic) {
    auto count = kafka::fetch_partition_count((*producer)->native(), o.topic,
                                              std::min(o.timeout, kafka::millis(15'000)));
    if (!count) return error(count.error().message);
    partitions = *count;
    if (o.partition >= partitions)
      return error("topic " + o.topic + " has " + std::to_string(partitions) +
                   " partitions, no partition " + std::to_string(o.partition));
  }

  auto reader = line_reader::open(o.file);
  if (!reader) return error(reader.error().message);
  key_extractor key_of(o.key_field);
  int64_t records = 0, null_keys = 0;
  for (int64_t n = 1;; ++n) {
    auto line = (*reader)->next();
    if (!line) return error(line.error().message);
    if (!*line) break;
    if (is_blank(**line)) continue;
    auto key = key_of(**line);
    if (!key) ++null_keys;
    auto r = (*producer)->produce(o.topic, kafka::partition_id{o.partition}, key, **line);
    if (!r)
      return error(o.file + ":" + std::to_string(n) + ": " + r.error().message + " (" +
                   std::to_string(records) + " earlier records were queued; delivered: " +
                   std::to_string((*producer)->delivered()) + ")");
    ++records;
  }
  // A little beyond the delivery timeout, so failed deliveries report their own reason.
  if (auto r = (*producer)->flush(o.timeout + kafka::millis(2'000)); !r)
    return error(r.error().message + " (" + std::to_string((*producer)->delivered()) + " of " +
                 std::to_string(records) + " records acknowledged)");
  std::printf("produced %lld records to %s", static_cast<long long>(records), o.topic.c_str());
  if (partitions > 0) std::printf(" (%d partitions)", partitions);
  std::printf(", %lld with a null key\n", static_cast<long long>(null_keys));
  return 0;
}

}  // namespace meterflow
