#include "processor/commands/tail.h"

#include <cstdio>

#include <librdkafka/rdkafka.h>

#include "processor/commands/topic_reader.h"
#include "topology/json_writer.h"

namespace meterflow {

int run_tail(const tail_options& o) {
  std::string line;
  auto counts = read_topics_to_end(
      o.bootstrap, o.topics, kafka::properties{}, std::chrono::seconds(60),
      [&](const kafka::message& m) -> result<void> {
        line.clear();
        json_writer w(line);
        w.begin_object();
        w.member("topic", m.topic());
        w.member("partition", int64_t{m.partition().value});
        w.member("offset", m.offset().value);
        w.key("key");
        if (auto k = m.key()) w.value(*k); else w.null();
        w.key("value");
        if (auto v = m.value()) w.value(*v); else w.null();
        w.key("headers").begin_object();
        rd_kafka_headers_t* headers = nullptr;
        if (rd_kafka_message_headers(m.native(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* value;
          size_t size;
          for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                             RD_KAFKA_RESP_ERR_NO_ERROR;
               ++i) {
            w.key(name);
            if (value) w.value(std::string_view(static_cast<const char*>(value), size)); else w.null();
          }
        }
        w.end_object();
        w.end_object();
        std::printf("%s\n", line.c_str());
        return {};
      });
  if (!counts) {
    std::fprintf(stderr, "meterflow tail: %s\n", counts.error().message.c_str());
    return 2;
  }
  return 0;
}

}  // namespace meterflow
