// Decoding and validating raw meter events (SPEC §1, order of checks of SPEC §4).
//
// event_decoder turns the bytes of one record into a decoded_event, or into the dead-letter
// reason and sentence explaining what is wrong with it. It performs the checks that need only
// the event and the catalog (too_large .. invalid_value); the checks that need subscriptions,
// stream time and dedup state (no_subscription, too_late, duplicates) belong to the engine.
//
// Thread-safety: one decoder per thread (it owns a simdjson parser and reusable buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "topology/catalog.h"
#include "topology/decimal.h"
#include "topology/hash.h"
#include "topology/time.h"

namespace meterflow {

enum class dead_letter_reason : uint8_t {
  too_large,
  invalid_json,
  missing_field,
  invalid_field,
  unknown_type,
  invalid_value,
  no_subscription,
  too_late,
  idempotency_conflict,
};
inline constexpr int dead_letter_reason_count = 9;
std::string_view to_string(dead_letter_reason r);

// What one meter reads from an event that counts for it.
struct meter_reading {
  uint32_t meter = 0;      // index into catalog::meters
  decimal value;           // the numeric value (unset for count and unique_count)
  std::string text;        // unique_count: the value compared as text
  std::string group;       // encoded group_by values ("" when the meter has no group_by)
};

struct decoded_event {
  std::string id;
  std::string source;
  std::string type;
  std::string subject;
  timestamp time;
  hash128 key;          // dedup key: (subject, source, id)
  hash128 fingerprint;  // (type, time, data) with object members in any order
  std::vector<meter_reading> readings;  // one per meter whose type and filters select the event
};

struct decode_failure {
  dead_letter_reason reason;
  std::string error;  // a human sentence
};

struct decoder_options {
  size_t max_event_bytes = 64 * 1024;  // Default: 64 KiB (SPEC §5 too_large).
  millis max_future{300'000};          // Default: 300 s (SPEC §1).
};

class event_decoder {
 public:
  explicit event_decoder(decoder_options options);
  ~event_decoder();
  event_decoder(const event_decoder&) = delete;
  event_decoder& operator=(const event_decoder&) = delete;

  // Decodes `raw` into `out` (reusing its buffers). `wall_clock` bounds event times from above
  // (max_future). Returns a failure for a dead letter.
  [[nodiscard]] std::optional<decode_failure> decode(std::string_view raw, const catalog& cat,
                                                     timestamp wall_clock, decoded_event& out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  decoder_options options_;
};

// Group values as the engine encodes them, decoded for output: name -> value or null.
struct group_value {
  std::string_view name;
  bool is_null = false;
  std::string_view value;
};
std::vector<group_value> decode_group(const meter& m, std::string_view encoded);

}  // namespace meterflow
