// The one place where librdkafka's errors are sorted into what the caller must do next, and
// turned into meterflow `error`s carrying librdkafka's own message.
//
// Where librdkafka classifies an error itself (an rd_kafka_error_t: is_fatal, is_retriable,
// txn_requires_abort) that classification wins; a bare rd_kafka_resp_err_t is sorted by the
// table in errors.cc, which follows Kafka's RetriableException hierarchy and librdkafka's
// idempotent/transactional producer rules.
#pragma once

#include <librdkafka/rdkafka.h>

#include <expected>
#include <string>
#include <string_view>

#include "base/result.h"

namespace meterflow::kafka {

// What the caller does next after a failed Kafka operation.
enum class error_kind {
  // Transient (broker down, leader moving, timeout, full queue). librdkafka already retries
  // requests internally; the caller retries the operation later (or waits longer), and must not
  // give up state or offsets because of it.
  retriable,
  // The current transaction can no longer commit. Abort it, rewind the input to the last
  // committed position, and start a new transaction.
  abortable,
  // The client instance is unusable (fenced producer, broken idempotence sequence, failed
  // authentication). Destroy it; a processor stops its tasks and restarts from its last commit.
  fatal,
  // The request itself is wrong (unknown topic, invalid configuration or argument, record too
  // large). Retrying gives the same answer: fix the input or the configuration.
  permanent,
};

std::string_view to_string(error_kind kind);

// Classifies a bare error code (see the header comment for the rules).
error_kind classify(rd_kafka_resp_err_t err);
// Classifies an error object with librdkafka's own flags.
error_kind classify(const rd_kafka_error_t* err);

// Error name as used on the command line and in messages: librdkafka's rd_kafka_err2name
// ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT").
std::string_view error_name(rd_kafka_resp_err_t err);

// Parses an error name: librdkafka's names, a few newer Kafka aliases librdkafka 2.0.2 does not
// know by that name (NOT_LEADER_OR_FOLLOWER), with or without an RD_KAFKA_RESP_ERR_ prefix,
// case-insensitive, or a number.
result<rd_kafka_resp_err_t> parse_error_name(std::string_view name);

// "WHAT: <librdkafka's message> (NAME, kind)". `detail` replaces librdkafka's generic text for
// the code when librdkafka gave a more specific one (an errstr, an error object's string).
std::string describe(std::string_view what, rd_kafka_resp_err_t err, std::string_view detail = {});

// The failure side of a result for an error code; use as `return kafka_error("produce", err);`.
[[nodiscard]] std::unexpected<error> kafka_error(std::string_view what, rd_kafka_resp_err_t err,
                                                 std::string_view detail = {});
// Same for an error object, which it destroys (librdkafka hands over ownership).
[[nodiscard]] std::unexpected<error> kafka_error(std::string_view what, rd_kafka_error_t* err);

// {} for NO_ERROR, else kafka_error(what, err).
[[nodiscard]] result<void> check(std::string_view what, rd_kafka_resp_err_t err);
// {} for nullptr, else kafka_error(what, err) (destroying err).
[[nodiscard]] result<void> check(std::string_view what, rd_kafka_error_t* err);

}  // namespace meterflow::kafka
