// `meterflow tail --bootstrap B --topic T`: prints every record a topic holds now, one JSON object
// per line: {"partition","offset","key","value","headers":{name: value}}. Key, value and header
// values are printed as JSON strings (null when null); for the dead-letter topic that shows the
// original event bytes and the reason, error, topic, partition and offset headers.
#pragma once

#include <string>
#include <vector>

namespace meterflow {

struct tail_options {
  std::string bootstrap;
  std::vector<std::string> topics;
};

int run_tail(const tail_options& options);

}  // namespace meterflow
