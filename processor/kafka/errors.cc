#include "processor/kafka/errors.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace meterflow::kafka {

std::string_view to_string(error_kind kind) {
  switch (kind) {
    case error_kind::retriable: return "retriable";
    case error_kind::abortable: return "abortable";
    case error_kind::fatal: return "fatal";
    case error_kind::permanent: return "permanent";
  }
  return "permanent";
}

error_kind classify(rd_kafka_resp_err_t err) {
  switch (err) {
    // The client cannot continue: librdkafka raises these as fatal errors for idempotent and
    // transactional producers, and authentication/authorisation of the cluster or transactional
    // id will not fix itself.
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID: return error_kind::fatal;

    // Transient: Kafka's RetriableException family and librdkafka's local transient errors.
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__WAIT_CACHE:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__ISR_INSUFF:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR__INTR:
    case RD_KAFKA_RESP_ERR__PARTIAL:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR_TRANSACTION_COORDINATOR_FENCED: return error_kind::retriable;

    default: return error_kind::permanent;
  }
}

error_kind classify(const rd_kafka_error_t* err) {
  if (rd_kafka_error_is_fatal(err)) return error_kind::fatal;
  if (rd_kafka_error_txn_requires_abort(err)) return error_kind::abortable;
  if (rd_kafka_error_is_retriable(err)) return error_kind::retriable;
  // librdkafka flags what it knows; for the rest its code tells (e.g. a bare timeout).
  error_kind by_code = classify(rd_kafka_error_code(err));
  return by_code == error_kind::fatal ? error_kind::permanent : by_code;
}

std::string_view error_name(rd_kafka_resp_err_t err) { return rd_kafka_err2name(err); }

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// Names Kafka uses today for codes librdkafka 2.0.2 still calls by their old names.
struct alias {
  std::string_view name;
  rd_kafka_resp_err_t code;
};
constexpr alias aliases[] = {
    {"NOT_LEADER_OR_FOLLOWER", RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
    {"UNKNOWN_TOPIC_OR_PARTITION", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART},
    {"UNKNOWN_SERVER_ERROR", RD_KAFKA_RESP_ERR_UNKNOWN},
    {"CORRUPT_MESSAGE", RD_KAFKA_RESP_ERR_INVALID_MSG},
    {"MESSAGE_TOO_LARGE", RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE},
};

}  // namespace

result<rd_kafka_resp_err_t> parse_error_name(std::string_view name) {
  std::string wanted = upper(name);
  if (wanted.starts_with("RD_KAFKA_RESP_ERR_"))
    wanted.erase(0, 18);
  else if (wanted.starts_with("ERR_"))
    wanted.erase(0, 4);
  int number = 0;
  auto [end, ec] = std::from_chars(wanted.data(), wanted.data() + wanted.size(), number);
  if (ec == std::errc() && end == wanted.data() + wanted.size()) {
    // librdkafka names codes it does not know "ERR_<n>?".
    auto code = static_cast<rd_kafka_resp_err_t>(number);
    if (std::string_view(rd_kafka_err2name(code)).ends_with('?'))
      return fail("unknown Kafka error code ", wanted);
    return code;
  }
  for (const auto& a : aliases)
    if (a.name == wanted) return a.code;
  const rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  for (size_t i = 0; i < count; ++i) {
    if (!descs[i].name) continue;
    if (wanted == rd_kafka_err2name(descs[i].code)) return descs[i].code;
  }
  return fail(
      "unknown Kafka error name \"", std::string(name),
      "\" (use librdkafka's names, e.g. NOT_LEADER_FOR_PARTITION, _TRANSPORT, or a number)");
}

std::string describe(std::string_view what, rd_kafka_resp_err_t err, std::string_view detail) {
  std::string out(what);
  out += ": ";
  out += detail.empty() ? std::string_view(rd_kafka_err2str(err)) : detail;
  out += " (";
  out += rd_kafka_err2name(err);
  out += ", ";
  out += to_string(classify(err));
  out += ')';
  return out;
}

std::unexpected<error> kafka_error(std::string_view what, rd_kafka_resp_err_t err,
                                   std::string_view detail) {
  return std::unexpected<error>(
      error{describe(what, err, detail), classify(err) == error_kind::retriable});
}

std::unexpected<error> kafka_error(std::string_view what, rd_kafka_error_t* err) {
  std::string out(what);
  out += ": ";
  out += rd_kafka_error_string(err);
  out += " (";
  out += rd_kafka_error_name(err);
  out += ", ";
  const error_kind kind = classify(err);
  out += to_string(kind);
  out += ')';
  rd_kafka_error_destroy(err);
  return std::unexpected<error>(error{std::move(out), kind == error_kind::retriable});
}

result<void> check(std::string_view what, rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return kafka_error(what, err);
}

result<void> check(std::string_view what, rd_kafka_error_t* err) {
  if (!err) return {};
  return kafka_error(what, err);
}

}  // namespace meterflow::kafka
