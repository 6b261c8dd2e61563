// Strong types for the coordinates of a Kafka record, so a partition id, an offset and a count
// cannot be mixed up (as Redpanda's model::offset). Plain values; no librdkafka types leak here
// except the sentinel numbers, which are librdkafka's own.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace meterflow::kafka {

// A partition number within a topic. `unassigned()` lets the producer's partitioner choose.
struct partition_id {
  int32_t value = 0;

  static constexpr partition_id unassigned() { return partition_id{-1}; }  // RD_KAFKA_PARTITION_UA
  constexpr bool is_unassigned() const { return value == -1; }
  friend constexpr auto operator<=>(partition_id, partition_id) = default;
};

// A record offset within a partition, or one of librdkafka's logical offsets.
struct kafka_offset {
  int64_t value = -1001;

  static constexpr kafka_offset beginning() {
    return kafka_offset{-2};
  }                                                                 // RD_KAFKA_OFFSET_BEGINNING
  static constexpr kafka_offset end() { return kafka_offset{-1}; }  // RD_KAFKA_OFFSET_END
  static constexpr kafka_offset stored() { return kafka_offset{-1000}; }  // RD_KAFKA_OFFSET_STORED
  // "No offset": for assign, start at the committed offset (or auto.offset.reset); for
  // committed(), nothing was committed.
  static constexpr kafka_offset invalid() {
    return kafka_offset{-1001};
  }  // RD_KAFKA_OFFSET_INVALID
  constexpr bool is_logical() const { return value < 0; }
  friend constexpr auto operator<=>(kafka_offset, kafka_offset) = default;
};

struct topic_partition {
  std::string topic;
  partition_id partition;
  friend auto operator<=>(const topic_partition&, const topic_partition&) = default;
};

// A position in a partition: where to start (assign/seek), what to commit (the offset of the
// NEXT record to read, as Kafka's convention is), or what was committed.
struct topic_partition_offset {
  std::string topic;
  partition_id partition;
  kafka_offset offset = kafka_offset::invalid();
  friend auto operator<=>(const topic_partition_offset&, const topic_partition_offset&) = default;
};

// A partition's offsets: `low` is the first record still retained, `high` the offset the next
// produced record will get (so high - low records, control records included, are readable).
struct watermarks {
  kafka_offset low;
  kafka_offset high;
};

// "topic[3]", as partitions are named in messages.
inline std::string to_string(const topic_partition& tp) {
  return tp.topic + "[" + std::to_string(tp.partition.value) + "]";
}

}  // namespace meterflow::kafka
