// Kafka clients for meterflow on librdkafka's C API: an idempotent (optionally transactional)
// producer, a high-level consumer with rebalance hooks, and a small admin client.
//
// Ownership: every librdkafka object is held by a unique_ptr with its destroy function as the
// deleter; nothing here hands out an owning raw pointer. Errors: every rd_kafka_resp_err_t and
// rd_kafka_error_t becomes a result<T> error through errors.h, which also says whether it is
// retriable, fatal, abortable or permanent.
//
// Threads: each client is used from ONE application thread. librdkafka runs its own threads
// underneath, but every callback meterflow registers (delivery reports, errors, rebalances) is
// served on the thread that calls poll/flush/produce/close, never concurrently with it, so no
// hook needs a lock.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "processor/kafka/config.h"
#include "processor/kafka/errors.h"
#include "processor/kafka/types.h"

namespace meterflow::kafka {

using millis = std::chrono::milliseconds;

class consumer;

// --- owners of librdkafka objects -------------------------------------------------------------

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;

struct partition_list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;

struct message_deleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

struct error_deleter {
  void operator()(rd_kafka_error_t* e) const noexcept { rd_kafka_error_destroy(e); }
};
using error_ptr = std::unique_ptr<rd_kafka_error_t, error_deleter>;

struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

struct event_deleter {
  void operator()(rd_kafka_event_t* e) const noexcept { rd_kafka_event_destroy(e); }
};
using event_ptr = std::unique_ptr<rd_kafka_event_t, event_deleter>;

struct group_metadata_deleter {
  void operator()(rd_kafka_consumer_group_metadata_t* g) const noexcept {
    rd_kafka_consumer_group_metadata_destroy(g);
  }
};
using group_metadata_ptr =
    std::unique_ptr<rd_kafka_consumer_group_metadata_t, group_metadata_deleter>;

// Conversions between meterflow's partition lists and librdkafka's.
partition_list_ptr to_partition_list(std::span<const topic_partition_offset> partitions);
partition_list_ptr to_partition_list(std::span<const topic_partition> partitions);
std::vector<topic_partition_offset> from_partition_list(
    const rd_kafka_topic_partition_list_t* list);

// Receives what librdkafka reports outside any call: a broker went down, all brokers are down,
// a request timed out. These are retriable (librdkafka reconnects and retries by itself); the
// sink is for logs and metrics. Called on the polling thread.
using warning_sink = std::function<void(const std::string& message)>;
// Prints "meterflow: kafka: <message>" on stderr.
void warn_to_stderr(const std::string& message);

// The partition count of `topic` from cluster metadata (any client handle). Errors: the topic
// does not exist (permanent), metadata not available within `timeout` (retriable).
result<int> fetch_partition_count(rd_kafka_t* rk, const std::string& topic, millis timeout);
// The same for several topics from one metadata request, in the order given.
result<std::vector<int>> fetch_partition_counts(rd_kafka_t* rk, std::span<const std::string> topics,
                                                millis timeout);

// --- producer ---------------------------------------------------------------------------------

struct producer_options {
  // bootstrap.servers, e.g. "127.0.0.1:9092". Required.
  std::string bootstrap;
  // Further librdkafka settings, applied after meterflow's defaults below so they can change
  // them (TLS, SASL, linger.ms, ...). enable.idempotence and acks cannot be weakened: the
  // outbox's no-duplicate promise depends on them. Default: none.
  properties settings;
  // transactional.id; non-empty makes the producer transactional (exactly_once_v2): call
  // init_transactions() once, then begin/commit per batch. Default: "" (idempotent only).
  std::string transactional_id;
  // How long librdkafka keeps trying to deliver a record (message.timeout.ms) before its
  // delivery fails with _MSG_TIMED_OUT; 0 = for ever. Default: 120 s.
  millis delivery_timeout{120'000};
  // How long produce() waits for room when librdkafka's local queue is full
  // (queue.buffering.max.messages/kbytes) before failing with a retriable _QUEUE_FULL.
  // Default: 60 s.
  millis queue_full_wait{60'000};
  // Where retriable background errors go. Default: stderr.
  warning_sink on_warning = warn_to_stderr;

  result<void> validate() const;
};

// A record header for produce(): name and value (nullopt: a null value). Copied by produce().
struct header {
  std::string_view name;
  std::optional<std::string_view> value;
};

// Why records were not delivered: one entry per partition and error.
struct delivery_failure {
  topic_partition where;  // partition -1 if it never got one
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  int64_t records = 0;  // how many records failed so
};

// The acknowledgements of a group of records (one commit's changelog batch, its outputs): a
// record produced with a tracker is pending until its delivery report arrives, which poll() and
// flush() serve. A tracker must outlive the delivery reports of its records.
struct delivery_tracker {
  int64_t pending = 0;
  int64_t failed = 0;
  std::string first_error;  // of the first failed record
  // Per partition written: the highest offset acknowledged (few partitions per tracker).
  std::vector<std::pair<int32_t, int64_t>> last_offsets;
  bool settled() const { return pending == 0; }
  // The highest acknowledged offset in `partition`, or -1.
  int64_t last_offset(int32_t partition) const {
    for (const auto& [p, o] : last_offsets)
      if (p == partition) return o;
    return -1;
  }
};

// An idempotent producer (enable.idempotence=true, acks=all, Java-compatible murmur2_random
// partitioner so records keyed by tenant land where Kafka Streams and Java clients put them;
// batches compressed with lz4 unless settings say otherwise).
//
// Lifecycle: create → produce… → flush → (destroy). Delivery results arrive through librdkafka's
// delivery report callback and are tallied here; flush() is where the caller learns them. A
// record is durable only once a flush() that covers it returned success. Destroying a producer
// with records in flight drops them (they were never acknowledged): flush first.
class producer {
 public:
  static result<std::unique_ptr<producer>> create(const producer_options& options);
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  // Queues one record; key, value and headers are copied (the caller's buffers may be reused at
  // once). `partition` unassigned: the partitioner picks by key (random for a null key).
  // Backpressure: when the local queue is full it serves delivery reports and waits up to
  // options.queue_full_wait for room, then fails with a retriable error (the record was not
  // queued; try again later). Other errors (unknown partition, record too large) are permanent
  // for this record. After a fatal error every call fails with it.
  [[nodiscard]] result<void> produce(std::string_view topic, partition_id partition,
                                     std::optional<std::string_view> key, std::string_view value,
                                     std::span<const header> headers = {},
                                     delivery_tracker* tracker = nullptr);

  // Waits until every queued record is acknowledged or failed, at most `timeout`. Errors: some
  // deliveries since the previous flush failed (says how many and the first few, with where and
  // why), records still unacknowledged at the timeout (retriable: flush again), or a fatal
  // error. Failures are reported once: the next flush starts a fresh tally.
  [[nodiscard]] result<void> flush(millis timeout);

  // Serves delivery reports and error callbacks without blocking longer than `timeout`.
  void poll(millis timeout = millis(0));

  int64_t produced() const { return produced_; }    // records queued by produce()
  int64_t delivered() const { return delivered_; }  // acknowledged by all in-sync replicas
  int64_t failed() const { return failed_; }        // delivery failed
  int64_t in_flight() const { return produced_ - delivered_ - failed_; }

  // Transactions (options.transactional_id set). Each returns librdkafka's classification in
  // its message: abortable → abort_transaction() and redo the batch; fatal → destroy the
  // producer (another instance with the same transactional.id fenced this one).
  [[nodiscard]] result<void> init_transactions(millis timeout);
  [[nodiscard]] result<void> begin_transaction();
  // Adds the consumer's group offsets (the NEXT offsets to read) to the open transaction.
  [[nodiscard]] result<void> send_offsets_to_transaction(
      std::span<const topic_partition_offset> offsets, const consumer& source, millis timeout);
  [[nodiscard]] result<void> commit_transaction(millis timeout);
  [[nodiscard]] result<void> abort_transaction(millis timeout);

  // The underlying handle, for metadata queries and tests. Owned by this producer.
  rd_kafka_t* native() const { return rk_.get(); }

 private:
  explicit producer(const producer_options& options);
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  result<void> check_fatal();

  producer_options options_;
  handle_ptr rk_;
  int64_t produced_ = 0;
  int64_t delivered_ = 0;
  int64_t failed_ = 0;
  int64_t failed_since_flush_ = 0;
  std::vector<delivery_failure> failures_;  // since the last flush, first 8 partition/errors
  std::string fatal_;                       // the fatal error once one happened
  std::string names_;                       // produce(): NUL-terminated topic and header names
  std::vector<rd_kafka_vu_t> vus_;          // produce(): the arguments of rd_kafka_produceva
};

// --- consumer ---------------------------------------------------------------------------------

// One consumed record (or an end-of-partition event), owning librdkafka's message. Accessors
// return views into it, valid while this object lives.
class message {
 public:
  explicit message(message_ptr m) : m_(std::move(m)) {}

  // True for the end-of-partition event (enable.partition.eof=true): `offset()` is the position
  // reached, there is no key or value.
  bool is_partition_eof() const { return m_->err == RD_KAFKA_RESP_ERR__PARTITION_EOF; }

  std::string_view topic() const;
  partition_id partition() const { return partition_id{m_->partition}; }
  kafka_offset offset() const { return kafka_offset{m_->offset}; }
  // nullopt for a null key.
  std::optional<std::string_view> key() const;
  // nullopt for a null value (a tombstone).
  std::optional<std::string_view> value() const;
  // The record's timestamp in ms since the epoch, if it has one.
  std::optional<int64_t> timestamp_ms() const;
  // The last header named `name`: nullopt if absent, a nullopt inside for a null value.
  std::optional<std::optional<std::string_view>> header(std::string_view name) const;

  const rd_kafka_message_t* native() const { return m_.get(); }

 private:
  message_ptr m_;
};

// Hooks into group rebalances. They run inside consumer::poll() or consumer::close(), on the
// caller's thread. A hook that fails makes the next poll() return its error (the assignment
// change itself still goes through, as librdkafka requires): treat it as fatal for the consumer.
struct rebalance_hooks {
  // Partitions about to be added to the assignment. Set `offset` of an entry to start reading
  // there (e.g. from a task's local checkpoint); leave it invalid() to start at the group's
  // committed offset, or auto.offset.reset when there is none.
  std::function<result<void>(std::vector<topic_partition_offset>& partitions)> on_assigned;
  // Partitions about to leave the assignment. `lost` = false: revoked in an orderly rebalance —
  // finish and commit what was processed now. `lost` = true: the group already gave them to
  // someone else (session timeout) — do not commit; drop uncommitted work.
  std::function<result<void>(const std::vector<topic_partition_offset>& partitions, bool lost)>
      on_revoked;
};

struct consumer_options {
  // bootstrap.servers. Required.
  std::string bootstrap;
  // group.id. Required by librdkafka even for a consumer that only assign()s (then it never
  // joins the group, but commits would go to it).
  std::string group_id;
  // partition.assignment.strategy=cooperative-sticky (incremental rebalances: only moved
  // partitions are revoked) instead of librdkafka's eager default (range,roundrobin: every
  // rebalance revokes everything). Default: false.
  bool cooperative = false;
  // Further librdkafka settings, applied after meterflow's defaults (enable.auto.commit=false,
  // auto.offset.reset=earliest, isolation.level=read_committed; allow.auto.create.topics stays
  // librdkafka's false). Against the development cluster set
  // session.timeout.ms=6000: a rejoin takes ~5 s instead of ~45 s. Default: none.
  properties settings;
  rebalance_hooks hooks;
  // Where retriable background and consume errors go. Default: stderr.
  warning_sink on_warning = warn_to_stderr;

  result<void> validate() const;
};

// A high-level KafkaConsumer: subscribe() to join the group, or assign() partitions directly.
// Offsets are committed only by commit_async() (auto commit is off).
class consumer {
 public:
  static result<std::unique_ptr<consumer>> create(const consumer_options& options);
  // Closes (leaving the group, running on_revoked) if close() was not called.
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  [[nodiscard]] result<void> subscribe(std::span<const std::string> topics);
  [[nodiscard]] result<void> unsubscribe();

  // Waits up to `timeout` for the next record. nullopt: nothing arrived — a timeout, or a
  // retriable error that was reported to on_warning (librdkafka recovers by itself; keep
  // polling). Errors: permanent or fatal consume errors (e.g. an offset reset with
  // auto.offset.reset=error), a failed rebalance hook, or a fatal client error.
  [[nodiscard]] result<std::optional<message>> poll(millis timeout);
  // The same for up to `max` records at once: waits up to `timeout` for the first; `out` is
  // replaced by what arrived (possibly nothing). A rebalance served meanwhile drops the records
  // already collected for the partitions it moves, so no record returned predates its
  // partition's (re)assignment. (Not librdkafka's batch API: before 2.1.0 it loses or returns
  // stale records when a rebalance, seek or pause runs alongside it — its 2.0 "Known Issues".)
  [[nodiscard]] result<void> poll_batch(millis timeout, size_t max, std::vector<message>& out);

  // Replaces the assignment by these partitions, each starting at its offset (invalid():
  // committed offset or auto.offset.reset). Only for a consumer that does not subscribe().
  [[nodiscard]] result<void> assign(std::span<const topic_partition_offset> partitions);
  [[nodiscard]] result<void> unassign();
  // Moves the fetch position of assigned partitions.
  [[nodiscard]] result<void> seek(std::span<const topic_partition_offset> positions,
                                  millis timeout);
  [[nodiscard]] result<void> pause(std::span<const topic_partition> partitions);
  [[nodiscard]] result<void> resume(std::span<const topic_partition> partitions);
  // The current assignment.
  [[nodiscard]] result<std::vector<topic_partition_offset>> assignment();

  // Sends these offsets (each the NEXT offset to read) to the group without waiting for the
  // answer; a failed commit is reported to on_warning when poll() serves its result. Never
  // waiting matters: librdkafka holds a commit back while the group rebalances, and a thread
  // blocked in it neither processes records nor serves the rebalance's callbacks meanwhile.
  // Sends nothing while an earlier commit is unanswered, and from any sign of a group rebalance
  // until the group has been quiet for twice session.timeout.ms (client.cc: librdkafka #4059):
  // commits are for monitoring, and one sent during a rebalance can cost the whole assignment.
  [[nodiscard]] result<void> commit_async(std::span<const topic_partition_offset> offsets);
  // The group's committed offsets (invalid() where none).
  [[nodiscard]] result<std::vector<topic_partition_offset>> committed(
      std::span<const topic_partition> partitions, millis timeout);
  // The next offset this consumer will return per partition (invalid() if unknown yet).
  [[nodiscard]] result<std::vector<topic_partition_offset>> position(
      std::span<const topic_partition> partitions);

  // Asks the partition's leader for its low and high watermarks.
  [[nodiscard]] result<watermarks> query_watermarks(const topic_partition& tp, millis timeout);
  // The watermarks last seen in fetch responses (no request; may be stale or unknown).
  [[nodiscard]] result<watermarks> cached_watermarks(const topic_partition& tp);

  [[nodiscard]] result<int> partition_count(const std::string& topic, millis timeout) {
    return fetch_partition_count(rk_.get(), topic, timeout);
  }

  // "NONE" before the first join, then "EAGER" or "COOPERATIVE".
  std::string rebalance_protocol() const;

  // The group metadata send_offsets_to_transaction needs.
  group_metadata_ptr group_metadata() const;

  // Leaves the group (running on_revoked for what is assigned) and stops fetching. Idempotent.
  [[nodiscard]] result<void> close();

  rd_kafka_t* native() const { return rk_.get(); }

 private:
  explicit consumer(const consumer_options& options);
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  void rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void keep_first_error(std::string message);
  result<std::optional<message>> sort(message_ptr m);

  consumer_options options_;
  handle_ptr rk_;
  std::vector<message>* collecting_ = nullptr;  // poll_batch()'s output while it polls
  std::string pending_error_;  // from a hook, an assign in a callback, or a fatal error
  // commit_async(): paused until commits_resume_at_ (hold_commits()), one commit in flight.
  void hold_commits();
  std::chrono::milliseconds commit_pause_{90'000};  // 2 x session.timeout.ms, set by create()
  std::chrono::steady_clock::time_point commits_resume_at_{};
  bool commit_in_flight_ = false;
  bool closed_ = false;
};

// --- admin ------------------------------------------------------------------------------------

struct admin_options {
  // bootstrap.servers. Required.
  std::string bootstrap;
  // Further librdkafka settings (TLS, SASL). Default: none.
  properties settings;
  // Where retriable background errors go. Default: stderr.
  warning_sink on_warning = warn_to_stderr;

  result<void> validate() const;
};

struct new_topic {
  std::string name;
  int partitions = 1;
  // -1: the broker's default.replication.factor.
  int replication_factor = -1;
  // Topic configs, e.g. {"cleanup.policy", "compact"}.
  properties configs;
};

enum class topic_created { created, already_existed };

// Topic administration. The development cluster (librdkafka 2.0.2's mock) does not implement
// CreateTopics: there, create topics with dev_cluster::create_topic or the dev-cluster command.
class admin {
 public:
  static result<std::unique_ptr<admin>> create(const admin_options& options);
  ~admin();
  admin(const admin&) = delete;
  admin& operator=(const admin&) = delete;

  // Creates the topics (one request). A topic that already exists is not an error (its
  // partition count and configs are left as they are: check partition_count() if it matters).
  // Returns, per topic in order, whether it was created.
  [[nodiscard]] result<std::vector<topic_created>> create_topics(std::span<const new_topic> topics,
                                                                 millis timeout);

  [[nodiscard]] result<int> partition_count(const std::string& topic, millis timeout) {
    return fetch_partition_count(rk_.get(), topic, timeout);
  }

  rd_kafka_t* native() const { return rk_.get(); }

 private:
  explicit admin(const admin_options& options) : options_(options) {}
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  admin_options options_;
  handle_ptr rk_;
};

}  // namespace meterflow::kafka
