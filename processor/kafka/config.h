// Java-style `.properties` files (the format of Kafka and Kafka Streams configuration) and the
// bridge from string settings to a librdkafka configuration.
//
// Kafka settings stay strings (STYLE.md): meterflow never re-validates what librdkafka knows;
// it passes each one through rd_kafka_conf_set, and the first one librdkafka rejects fails
// start-up with librdkafka's own message and the file:line it came from.
#pragma once

#include <librdkafka/rdkafka.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace meterflow::kafka {

// One setting and where it came from.
struct property {
  std::string key;
  std::string value;
  // "file:line" for a parsed setting, empty for one set by code. Used in error messages.
  std::string origin;
};

// An ordered map of settings: iteration follows file (or insertion) order; each key once.
//
// Parsing follows java.util.Properties: `#` and `!` start comment lines; `key=value`,
// `key: value` and `key value` all work; whitespace around keys and values is trimmed (unlike
// Java, trailing whitespace of a value too — write `\ ` to keep a space); a line ending in an
// odd number of backslashes continues on the next line; escapes \t \n \r \f \uXXXX and `\c`
// for any other c. Stricter than Java on purpose, because a typo here bills someone: a key
// given twice and an empty key are errors naming file:line.
class properties {
 public:
  properties() = default;
  properties(std::initializer_list<std::pair<std::string_view, std::string_view>> init);

  // Parses properties text; `source` names it in errors ("meterflow.properties:12: ...").
  static result<properties> parse(std::string_view text, std::string_view source);
  // Reads and parses a file. Errors name the path (and line).
  static result<properties> load(const std::string& path);

  // The setting for `key`, or nullptr.
  const property* find(std::string_view key) const;
  std::optional<std::string_view> get(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Adds a setting, or replaces the value (and origin) of an existing one in place.
  void set(std::string_view key, std::string_view value, std::string_view origin = {});
  // Removes a setting; returns whether it was there.
  bool erase(std::string_view key);

  // The settings whose key starts with `prefix`, with the prefix removed, in order
  // (e.g. with_prefix("kafka.") gives the librdkafka pass-through settings).
  properties with_prefix(std::string_view prefix) const;

  const std::vector<property>& entries() const { return entries_; }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<property> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // key -> position in entries_
};

// Settings given as "key=value" strings (command-line -X options); `origin` names them in
// errors ("-X"). Errors: an item without '=' or with an empty key, a key given twice.
[[nodiscard]] result<properties> parse_settings(const std::vector<std::string>& items,
                                                std::string_view origin);

struct conf_deleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
// Owns a librdkafka configuration until rd_kafka_new takes it (release() on success only).
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;

// Sets each setting in order on `conf`. The first INVALID or UNKNOWN one fails with
// librdkafka's message: `kafka setting "linger.ms" (meterflow.properties:7): Configuration
// property "linger.ms" value "x" is not a valid integer`.
[[nodiscard]] result<void> apply(rd_kafka_conf_t* conf, const properties& settings);

// A new librdkafka configuration holding `settings` (see apply).
[[nodiscard]] result<conf_ptr> make_conf(const properties& settings);

}  // namespace meterflow::kafka
