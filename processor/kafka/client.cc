#include "processor/kafka/client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace meterflow::kafka {

namespace {

int to_ms(millis d) {
  if (d.count() < 0) return 0;
  if (d.count() > INT32_MAX) return INT32_MAX;
  return static_cast<int>(d.count());
}

std::string where(std::string_view topic, int32_t partition) {
  return to_string(topic_partition{std::string(topic), partition_id{partition}});
}

// librdkafka's description of its fatal error, which replaces the bare _FATAL code.
std::string fatal_description(rd_kafka_t* rk, std::string_view what) {
  char reason[512] = "";
  rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, reason, sizeof reason);
  return describe(
      what, original == RD_KAFKA_RESP_ERR_NO_ERROR ? RD_KAFKA_RESP_ERR__FATAL : original, reason);
}

// Hooks are application code; an exception must not cross librdkafka's C frames.
template <class Fn>
std::string run_hook(std::string_view name, Fn&& fn) {
  try {
    auto r = fn();
    if (!r) return std::string(name) + ": " + r.error().message;
    return {};
  } catch (const std::exception& e) {
    return std::string(name) + " threw: " + e.what();
  } catch (...) {
    return std::string(name) + " threw a non-standard exception";
  }
}

void report(const warning_sink& sink, const std::string& message) noexcept {
  try {
    if (sink) sink(message);
  } catch (...) {
    // A logging hook that throws has nowhere to report to; stderr is the last resort.
    std::fprintf(stderr, "meterflow: kafka: %s\n", message.c_str());
  }
}

struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* md) const noexcept { rd_kafka_metadata_destroy(md); }
};

// Sets the per-partition results of a list operation: the first partition error, if any.
result<void> check_partitions(std::string_view what, const rd_kafka_topic_partition_list_t* list) {
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    if (p.err) return kafka_error(std::string(what) + " " + where(p.topic, p.partition), p.err);
  }
  return {};
}

}  // namespace

void warn_to_stderr(const std::string& message) {
  std::fprintf(stderr, "meterflow: kafka: %s\n", message.c_str());
}

partition_list_ptr to_partition_list(std::span<const topic_partition_offset> partitions) {
  partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& p : partitions)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition.value)->offset =
        p.offset.value;
  return list;
}

partition_list_ptr to_partition_list(std::span<const topic_partition> partitions) {
  partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& p : partitions)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition.value);
  return list;
}

std::vector<topic_partition_offset> from_partition_list(
    const rd_kafka_topic_partition_list_t* list) {
  std::vector<topic_partition_offset> out;
  if (!list) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    out.push_back({p.topic, partition_id{p.partition}, kafka_offset{p.offset}});
  }
  return out;
}

result<std::vector<int>> fetch_partition_counts(rd_kafka_t* rk, std::span<const std::string> topics,
                                                millis timeout) {
  // All topics rather than one topic object: creating an rd_kafka_topic_t on a producer handle
  // may ask the broker to auto-create the topic, and this is a question, not a request.
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, to_ms(timeout));
  if (err) return kafka_error("metadata for topic " + (topics.empty() ? std::string() : topics[0]), err);
  std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter> md(raw);
  std::vector<int> counts;
  for (const std::string& topic : topics) {
    const rd_kafka_metadata_topic_t* found = nullptr;
    for (int i = 0; i < md->topic_cnt && !found; ++i)
      if (topic == md->topics[i].topic) found = &md->topics[i];
    if (!found || found->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      return fail("topic ", topic, " does not exist");
    if (found->err) return kafka_error("metadata for topic " + topic, found->err);
    counts.push_back(found->partition_cnt);
  }
  return counts;
}

result<int> fetch_partition_count(rd_kafka_t* rk, const std::string& topic, millis timeout) {
  auto counts = fetch_partition_counts(rk, std::span<const std::string>(&topic, 1), timeout);
  if (!counts) return std::unexpected(counts.error());
  return counts->front();
}

// --- producer ---------------------------------------------------------------------------------

result<void> producer_options::validate() const {
  if (bootstrap.empty()) return fail("producer: bootstrap.servers is empty");
  if (delivery_timeout.count() < 0) return fail("producer: the delivery timeout must not be negative");
  if (auto v = settings.get("enable.idempotence"); v && *v != "true")
    return fail("producer: enable.idempotence cannot be turned off (the outbox relies on it)");
  if (auto v = settings.get("acks"); v && *v != "all" && *v != "-1")
    return fail("producer: acks must stay \"all\" (the outbox relies on it), not \"",
                std::string(*v), "\"");
  return {};
}

producer::producer(const producer_options& options) : options_(options) {}

producer::~producer() = default;

result<std::unique_ptr<producer>> producer::create(const producer_options& options) {
  if (auto v = options.validate(); !v) return std::unexpected(v.error());
  std::unique_ptr<producer> p(new producer(options));
  properties defaults{
      {"bootstrap.servers", options.bootstrap},
      {"client.id", "meterflow"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // Java's default partitioner: the same key lands on the same partition whichever client
      // produced it, which co-partitioning by tenant depends on.
      {"partitioner", "murmur2_random"},
      // Charges are JSON lines that shrink several times: a batch compressed once here is fewer
      // bytes to send, store and replicate. On the development cluster it halves the brokers' CPU
      // per record and lowers meterflow's own; zstd was as fast end to end with more client CPU
      // (docs/performance.md, "2026-12-06 04:00 UTC").
      {"compression.codec", "lz4"},
  };
  defaults.set("message.timeout.ms", std::to_string(options.delivery_timeout.count()));
  if (!options.transactional_id.empty()) {
    defaults.set("transactional.id", options.transactional_id);
    // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
    defaults.set("transaction.timeout.ms",
                 std::to_string(std::max<int64_t>(60'000, options.delivery_timeout.count())));
  }
  auto conf = make_conf(defaults);
  if (!conf) return std::unexpected(conf.error());
  if (auto r = apply(conf->get(), options.settings); !r) return std::unexpected(r.error());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &producer::on_delivery);
  rd_kafka_conf_set_error_cb(conf->get(), &producer::on_error);
  rd_kafka_conf_set_opaque(conf->get(), p.get());
  char errstr[512] = "";
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (!rk) return fail("cannot create a Kafka producer: ", errstr);
  (void)conf->release();  // rd_kafka_new took ownership
  p->rk_.reset(rk);
  return p;
}

void producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<producer*>(opaque);
  auto* tracker = static_cast<delivery_tracker*>(m->_private);
  if (tracker) --tracker->pending;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->delivered_;
    if (tracker) {
      auto it = std::ranges::find(tracker->last_offsets, m->partition,
                                  &std::pair<int32_t, int64_t>::first);
      if (it == tracker->last_offsets.end())
        tracker->last_offsets.emplace_back(m->partition, m->offset);
      else
        it->second = std::max(it->second, m->offset);
    }
    return;
  }
  if (tracker && tracker->failed++ == 0)
    tracker->first_error = describe(to_string(topic_partition{m->rkt ? rd_kafka_topic_name(m->rkt) : "",
                                                              partition_id{m->partition}}),
                                    m->err);
  ++self->failed_;
  ++self->failed_since_flush_;
  topic_partition tp{m->rkt ? rd_kafka_topic_name(m->rkt) : "", partition_id{m->partition}};
  for (auto& f : self->failures_) {
    if (f.code == m->err && f.where == tp) {
      ++f.records;
      return;
    }
  }
  if (self->failures_.size() < 8)
    self->failures_.push_back(delivery_failure{std::move(tp), m->err, 1});
}

void producer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<producer*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    if (self->fatal_.empty()) self->fatal_ = fatal_description(rk, "producer failed");
    report(self->options_.on_warning, self->fatal_);
    return;
  }
  report(self->options_.on_warning, describe("producer", code, reason));
}

result<void> producer::check_fatal() {
  if (fatal_.empty()) {
    char reason[8];
    if (rd_kafka_fatal_error(rk_.get(), reason, sizeof reason) == RD_KAFKA_RESP_ERR_NO_ERROR)
      return {};
    fatal_ = fatal_description(rk_.get(), "producer failed");
  }
  return fail(fatal_);
}

result<void> producer::produce(std::string_view topic, partition_id partition,
                               std::optional<std::string_view> key, std::string_view value,
                               std::span<const header> headers, delivery_tracker* tracker) {
  if (!fatal_.empty()) return fail(fatal_);
  // librdkafka wants NUL-terminated topic and header names; one buffer holds them all, sized
  // first so the pointers into it stay valid.
  size_t needed = topic.size() + 1;
  for (const auto& h : headers) needed += h.name.size() + 1;
  // Both buffers are members reused across calls: no allocation per record once warm.
  std::string& names = names_;
  names.clear();
  names.reserve(needed);
  names.append(topic).push_back('\0');

  std::vector<rd_kafka_vu_t>& vus = vus_;
  vus.resize(6 + headers.size());
  size_t n = 0;
  vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[n++].u.cstr = names.c_str();
  vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[n++].u.i32 = partition.value;
  vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[n].u.mem.ptr = const_cast<char*>(value.data());
  vus[n++].u.mem.size = value.size();
  if (key) {
    vus[n].vtype = RD_KAFKA_VTYPE_KEY;
    // A non-null pointer even for an empty key: empty and null keys differ.
    vus[n].u.mem.ptr = const_cast<char*>(key->empty() ? "" : key->data());
    vus[n++].u.mem.size = key->size();
  }
  vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
  if (tracker) {
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[n++].u.ptr = tracker;
  }
  for (const auto& h : headers) {
    // Per-header entries are copied by librdkafka into its own header list, so nothing is
    // owned across a failed attempt.
    const char* name = names.data() + names.size();
    names.append(h.name).push_back('\0');
    vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
    vus[n].u.header.name = name;
    vus[n].u.header.val = h.value ? h.value->data() : nullptr;
    vus[n++].u.header.size = h.value ? static_cast<ssize_t>(h.value->size()) : 0;
  }

  auto deadline = std::chrono::steady_clock::now() + options_.queue_full_wait;
  for (;;) {
    rd_kafka_error_t* e = rd_kafka_produceva(rk_.get(), vus.data(), n);
    if (!e) {
      if (tracker) ++tracker->pending;
      // Delivery reports are served here too, so a long produce loop keeps its tallies fresh.
      if ((++produced_ & 1023) == 0) rd_kafka_poll(rk_.get(), 0);
      return {};
    }
    error_ptr owned(e);
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_poll(rk_.get(), 10);  // backpressure: wait for deliveries to make room
      continue;
    }
    if (code == RD_KAFKA_RESP_ERR__FATAL) return check_fatal();
    return kafka_error("produce to " + where(topic, partition.value), owned.release());
  }
}

void producer::poll(millis timeout) { rd_kafka_poll(rk_.get(), to_ms(timeout)); }

result<void> producer::flush(millis timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), to_ms(timeout));
  if (auto f = check_fatal(); !f) return f;
  if (failed_since_flush_ > 0) {
    std::string message = std::to_string(failed_since_flush_) + " record(s) were not delivered";
    int64_t described = 0;
    for (size_t i = 0; i < failures_.size(); ++i) {
      const auto& f = failures_[i];
      message += (i ? "; " : ": ") + std::to_string(f.records) + " to " +
                 describe(to_string(f.where), f.code);
      described += f.records;
    }
    if (described < failed_since_flush_) message += "; ...";
    failed_since_flush_ = 0;
    failures_.clear();
    return fail(message);
  }
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
    return kafka_error(std::to_string(in_flight()) + " record(s) not acknowledged within " +
                           std::to_string(timeout.count()) + " ms",
                       err);
  return check("flush", err);
}

result<void> producer::init_transactions(millis timeout) {
  return check("init transactions", rd_kafka_init_transactions(rk_.get(), to_ms(timeout)));
}

result<void> producer::begin_transaction() {
  return check("begin transaction", rd_kafka_begin_transaction(rk_.get()));
}

result<void> producer::send_offsets_to_transaction(std::span<const topic_partition_offset> offsets,
                                                   const consumer& source, millis timeout) {
  auto list = to_partition_list(offsets);
  group_metadata_ptr group = source.group_metadata();
  if (!group) return fail("send offsets to transaction: the consumer has no group metadata");
  return check(
      "send offsets to transaction",
      rd_kafka_send_offsets_to_transaction(rk_.get(), list.get(), group.get(), to_ms(timeout)));
}

result<void> producer::commit_transaction(millis timeout) {
  return check("commit transaction", rd_kafka_commit_transaction(rk_.get(), to_ms(timeout)));
}

result<void> producer::abort_transaction(millis timeout) {
  return check("abort transaction", rd_kafka_abort_transaction(rk_.get(), to_ms(timeout)));
}

// --- message ----------------------------------------------------------------------------------

std::string_view message::topic() const { return m_->rkt ? rd_kafka_topic_name(m_->rkt) : ""; }

std::optional<std::string_view> message::key() const {
  if (!m_->key) return std::nullopt;
  return std::string_view(static_cast<const char*>(m_->key), m_->key_len);
}

std::optional<std::string_view> message::value() const {
  if (!m_->payload) return std::nullopt;
  return std::string_view(static_cast<const char*>(m_->payload), m_->len);
}

std::optional<int64_t> message::timestamp_ms() const {
  rd_kafka_timestamp_type_t type;
  int64_t ts = rd_kafka_message_timestamp(m_.get(), &type);
  if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0) return std::nullopt;
  return ts;
}

std::optional<std::optional<std::string_view>> message::header(std::string_view name) const {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m_.get(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  std::string key(name);
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, key.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  if (!value) return std::optional<std::string_view>();
  return std::optional<std::string_view>(std::string_view(static_cast<const char*>(value), size));
}

// --- consumer ---------------------------------------------------------------------------------

result<void> consumer_options::validate() const {
  if (bootstrap.empty()) return fail("consumer: bootstrap.servers is empty");
  if (group_id.empty()) return fail("consumer: group.id is empty");
  if (auto v = settings.get("enable.auto.commit"); v && *v != "false")
    return fail(
        "consumer: enable.auto.commit must stay false (offsets are committed with the state)");
  return {};
}

consumer::consumer(const consumer_options& options) : options_(options) {}

consumer::~consumer() {
  if (closed_ || !rk_) return;
  if (auto r = close(); !r)
    report(options_.on_warning, "closing the consumer: " + r.error().message);
}

result<std::unique_ptr<consumer>> consumer::create(const consumer_options& options) {
  if (auto v = options.validate(); !v) return std::unexpected(v.error());
  std::unique_ptr<consumer> c(new consumer(options));
  properties defaults{
      {"bootstrap.servers", options.bootstrap},
      {"group.id", options.group_id},
      {"client.id", "meterflow"},
      {"enable.auto.commit", "false"},
      {"auto.offset.reset", "earliest"},
      {"isolation.level", "read_committed"},
      // librdkafka 2.0 stops fetching a partition while its queue holds queued.min.messages
      // (default 100,000), and a consumer's partitions share one queue, so that is counted over
      // all of them: 128 partitions stopped at ~0.5 s of input, and nothing wakes the fetcher
      // when the queue drains (it looks again about once a second: the input then stalled for up
      // to a second at a time). Set above what queued.max.messages.kbytes lets in, the byte
      // bound is the one that holds.
      {"queued.min.messages", "1000000"},
      // allow.auto.create.topics is left at librdkafka's consumer default (false): setting it
      // explicitly makes librdkafka warn against brokers (like the mock) that cannot honour it.
  };
  if (options.cooperative) defaults.set("partition.assignment.strategy", "cooperative-sticky");
  auto conf = make_conf(defaults);
  if (!conf) return std::unexpected(conf.error());
  if (auto r = apply(conf->get(), options.settings); !r) return std::unexpected(r.error());
  {
    char value[32] = "";
    size_t size = sizeof value;
    if (rd_kafka_conf_get(conf->get(), "session.timeout.ms", value, &size) == RD_KAFKA_CONF_OK)
      c->commit_pause_ = 2 * std::chrono::milliseconds(std::atoll(value));
  }
  rd_kafka_conf_set_rebalance_cb(conf->get(), &consumer::on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), &consumer::on_commit);
  rd_kafka_conf_set_error_cb(conf->get(), &consumer::on_error);
  rd_kafka_conf_set_opaque(conf->get(), c.get());
  char errstr[512] = "";
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof errstr);
  if (!rk) return fail("cannot create a Kafka consumer: ", errstr);
  (void)conf->release();  // rd_kafka_new took ownership
  c->rk_.reset(rk);
  // Error callbacks and rebalances are then served by consumer poll(), on the caller's thread.
  if (auto r = check("consumer set-up", rd_kafka_poll_set_consumer(rk)); !r)
    return std::unexpected(r.error());
  return c;
}

void consumer::keep_first_error(std::string message) {
  if (pending_error_.empty()) pending_error_ = std::move(message);
}

void consumer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<consumer*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    std::string message = fatal_description(rk, "consumer failed");
    self->keep_first_error(message);
    report(self->options_.on_warning, message);
    return;
  }
  report(self->options_.on_warning, describe("consumer", code, reason));
}

void consumer::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<consumer*>(opaque)->rebalance(err, partitions);
}

void consumer::rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  rd_kafka_t* rk = rk_.get();
  hold_commits();
  if (collecting_) {
    // Records poll_batch() collected before this rebalance belong to the partitions' previous
    // assignment: a partition assigned again restarts from the offset its hook chooses.
    std::erase_if(*collecting_, [&](const message& m) {
      return rd_kafka_topic_partition_list_find(partitions, std::string(m.topic()).c_str(),
                                                m.partition().value) != nullptr;
    });
  }
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  bool cooperative = protocol && std::strcmp(protocol, "COOPERATIVE") == 0;

  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (options_.hooks.on_assigned) {
      auto list = from_partition_list(partitions);
      auto problem = run_hook("on_assigned", [&] { return options_.hooks.on_assigned(list); });
      if (!problem.empty()) {
        keep_first_error(std::move(problem));
      } else if (static_cast<int>(list.size()) != partitions->cnt) {
        keep_first_error("on_assigned must not add or remove partitions");
      } else {
        // Start positions chosen by the hook (e.g. a task's checkpoint) go in the list that is
        // assigned: that is how librdkafka starts a partition at a given offset.
        for (int i = 0; i < partitions->cnt; ++i)
          partitions->elems[i].offset = list[i].offset.value;
      }
    }
    if (cooperative) {
      if (auto r = check("incremental assign", rd_kafka_incremental_assign(rk, partitions)); !r)
        keep_first_error(r.error().message);
    } else if (auto r = check("assign", rd_kafka_assign(rk, partitions)); !r) {
      keep_first_error(r.error().message);
    }
    return;
  }

  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    if (options_.hooks.on_revoked) {
      auto list = from_partition_list(partitions);
      bool lost = rd_kafka_assignment_lost(rk) != 0;
      auto problem = run_hook("on_revoked", [&] { return options_.hooks.on_revoked(list, lost); });
      if (!problem.empty()) keep_first_error(std::move(problem));
    }
    if (cooperative) {
      if (auto r = check("incremental unassign", rd_kafka_incremental_unassign(rk, partitions)); !r)
        keep_first_error(r.error().message);
    } else if (auto r = check("unassign", rd_kafka_assign(rk, nullptr)); !r) {
      keep_first_error(r.error().message);
    }
    return;
  }

  // A failed rebalance: librdkafka asks the application to drop its assignment and rejoin.
  report(options_.on_warning, describe("rebalance", err));
  if (auto r = check("unassign after a failed rebalance", rd_kafka_assign(rk, nullptr)); !r)
    keep_first_error(r.error().message);
}

result<void> consumer::subscribe(std::span<const std::string> topics) {
  std::vector<topic_partition> list;
  for (const auto& t : topics) list.push_back({t, partition_id::unassigned()});
  auto native_list = to_partition_list(std::span<const topic_partition>(list));
  return check("subscribe", rd_kafka_subscribe(rk_.get(), native_list.get()));
}

result<void> consumer::unsubscribe() {
  return check("unsubscribe", rd_kafka_unsubscribe(rk_.get()));
}

result<std::optional<message>> consumer::poll(millis timeout) {
  if (!pending_error_.empty()) return fail(pending_error_);
  message_ptr m(rd_kafka_consumer_poll(rk_.get(), to_ms(timeout)));
  if (!pending_error_.empty()) return fail(pending_error_);
  if (!m) return std::nullopt;
  return sort(std::move(m));
}

result<void> consumer::poll_batch(millis timeout, size_t max, std::vector<message>& out) {
  out.clear();
  collecting_ = &out;  // rebalance() drops what is collected for the partitions it moves
  std::optional<error> failure;
  for (size_t i = 0; i < max && pending_error_.empty(); ++i) {
    message_ptr m(rd_kafka_consumer_poll(rk_.get(), i == 0 ? to_ms(timeout) : 0));
    if (!m) break;
    auto r = sort(std::move(m));
    if (!r) {
      failure = r.error();
      break;
    }
    if (*r) out.push_back(std::move(**r));
  }
  collecting_ = nullptr;
  if (!pending_error_.empty()) return fail(pending_error_);
  if (failure) return std::unexpected(*failure);
  return {};
}

// A record or end-of-partition event is delivered; a retriable error is reported and skipped.
result<std::optional<message>> consumer::sort(message_ptr m) {
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
    return std::optional<message>(message(std::move(m)));
  std::string what =
      m->rkt ? "consume from " + where(rd_kafka_topic_name(m->rkt), m->partition) : "consume";
  if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
    keep_first_error(fatal_description(rk_.get(), what));
    return fail(pending_error_);
  }
  if (classify(m->err) == error_kind::retriable) {
    // librdkafka keeps fetching and reconnecting by itself; this is news, not a failure.
    report(options_.on_warning, describe(what, m->err, rd_kafka_message_errstr(m.get())));
    return std::nullopt;
  }
  return kafka_error(what, m->err, rd_kafka_message_errstr(m.get()));
}

result<void> consumer::assign(std::span<const topic_partition_offset> partitions) {
  auto list = to_partition_list(partitions);
  return check("assign", rd_kafka_assign(rk_.get(), list.get()));
}

result<void> consumer::unassign() { return check("unassign", rd_kafka_assign(rk_.get(), nullptr)); }

result<void> consumer::seek(std::span<const topic_partition_offset> positions, millis timeout) {
  auto list = to_partition_list(positions);
  if (auto r = check("seek", rd_kafka_seek_partitions(rk_.get(), list.get(), to_ms(timeout))); !r)
    return r;
  return check_partitions("seek", list.get());
}

result<void> consumer::pause(std::span<const topic_partition> partitions) {
  auto list = to_partition_list(partitions);
  if (auto r = check("pause", rd_kafka_pause_partitions(rk_.get(), list.get())); !r) return r;
  return check_partitions("pause", list.get());
}

result<void> consumer::resume(std::span<const topic_partition> partitions) {
  auto list = to_partition_list(partitions);
  if (auto r = check("resume", rd_kafka_resume_partitions(rk_.get(), list.get())); !r) return r;
  return check_partitions("resume", list.get());
}

result<std::vector<topic_partition_offset>> consumer::assignment() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (auto r = check("assignment", rd_kafka_assignment(rk_.get(), &raw)); !r)
    return std::unexpected(r.error());
  partition_list_ptr list(raw);
  return from_partition_list(list.get());
}

// librdkafka 2.0.2 (issue #4059; fixed upstream by PR #4908, after Debian bookworm's version)
// treats an offset commit that fails with ILLEGAL_GENERATION during a rebalance as this member
// having left the group: it rejoins and declares its whole assignment lost, so every task is
// closed, restored and republished instead of handed over. A commit sent at any point of a
// rebalance can meet that answer: librdkafka holds it back until the generation it carries is
// gone (measured on the development cluster: a commit sent between the two rounds of a
// cooperative rebalance was answered 5 s later with ILLEGAL_GENERATION, and 64 tasks were
// lost). So commits pause from every sign of a rebalance (a rebalance callback, a commit
// answered REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION) until the group has been quiet for twice
// the session timeout, and one commit at most is in flight.
void consumer::hold_commits() {
  commits_resume_at_ = std::chrono::steady_clock::now() + commit_pause_;
}

result<void> consumer::commit_async(std::span<const topic_partition_offset> offsets) {
  if (offsets.empty() || commit_in_flight_ || std::chrono::steady_clock::now() < commits_resume_at_)
    return {};  // the offsets of a later commit include these
  auto list = to_partition_list(offsets);
  if (auto r = check("commit", rd_kafka_commit(rk_.get(), list.get(), /*async=*/1)); !r) return r;
  commit_in_flight_ = true;
  return {};
}

void consumer::on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                         void* opaque) {
  auto* self = static_cast<consumer*>(opaque);
  self->commit_in_flight_ = false;
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing to commit
  if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
    self->hold_commits();
  if (err) {
    report(self->options_.on_warning, describe("offset commit", err));
    return;
  }
  if (auto r = check_partitions("offset commit", offsets); !r) report(self->options_.on_warning, r.error().message);
}

result<std::vector<topic_partition_offset>> consumer::committed(
    std::span<const topic_partition> partitions, millis timeout) {
  auto list = to_partition_list(partitions);
  if (auto r =
          check("committed offsets", rd_kafka_committed(rk_.get(), list.get(), to_ms(timeout)));
      !r)
    return std::unexpected(r.error());
  if (auto r = check_partitions("committed offset of", list.get()); !r)
    return std::unexpected(r.error());
  return from_partition_list(list.get());
}

result<std::vector<topic_partition_offset>> consumer::position(
    std::span<const topic_partition> partitions) {
  auto list = to_partition_list(partitions);
  if (auto r = check("position", rd_kafka_position(rk_.get(), list.get())); !r)
    return std::unexpected(r.error());
  return from_partition_list(list.get());
}

result<watermarks> consumer::query_watermarks(const topic_partition& tp, millis timeout) {
  int64_t low = -1, high = -1;
  auto err = rd_kafka_query_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition.value, &low,
                                              &high, to_ms(timeout));
  if (err) return kafka_error("watermarks of " + to_string(tp), err);
  return watermarks{kafka_offset{low}, kafka_offset{high}};
}

result<watermarks> consumer::cached_watermarks(const topic_partition& tp) {
  int64_t low = -1, high = -1;
  auto err =
      rd_kafka_get_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition.value, &low, &high);
  if (err) return kafka_error("cached watermarks of " + to_string(tp), err);
  return watermarks{kafka_offset{low}, kafka_offset{high}};
}

std::string consumer::rebalance_protocol() const {
  const char* p = rd_kafka_rebalance_protocol(rk_.get());
  return p ? p : "NONE";
}

group_metadata_ptr consumer::group_metadata() const {
  return group_metadata_ptr(rd_kafka_consumer_group_metadata(rk_.get()));
}

result<void> consumer::close() {
  if (closed_) return {};
  closed_ = true;
  return check("close consumer", rd_kafka_consumer_close(rk_.get()));
}

// --- admin ------------------------------------------------------------------------------------

result<void> admin_options::validate() const {
  if (bootstrap.empty()) return fail("admin: bootstrap.servers is empty");
  return {};
}

admin::~admin() = default;

void admin::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<admin*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  report(self->options_.on_warning, code == RD_KAFKA_RESP_ERR__FATAL
                                        ? fatal_description(rk, "admin client failed")
                                        : describe("admin", code, reason));
}

result<std::unique_ptr<admin>> admin::create(const admin_options& options) {
  if (auto v = options.validate(); !v) return std::unexpected(v.error());
  std::unique_ptr<admin> a(new admin(options));
  properties defaults{
      {"bootstrap.servers", options.bootstrap},
      {"client.id", "meterflow-admin"},
  };
  auto conf = make_conf(defaults);
  if (!conf) return std::unexpected(conf.error());
  if (auto r = apply(conf->get(), options.settings); !r) return std::unexpected(r.error());
  rd_kafka_conf_set_error_cb(conf->get(), &admin::on_error);
  rd_kafka_conf_set_opaque(conf->get(), a.get());
  char errstr[512] = "";
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (!rk) return fail("cannot create a Kafka admin client: ", errstr);
  (void)conf->release();
  a->rk_.reset(rk);
  return a;
}

namespace {
struct new_topic_deleter {
  void operator()(rd_kafka_NewTopic_t* t) const noexcept { rd_kafka_NewTopic_destroy(t); }
};
struct admin_options_deleter {
  void operator()(rd_kafka_AdminOptions_t* o) const noexcept { rd_kafka_AdminOptions_destroy(o); }
};
}  // namespace

result<std::vector<topic_created>> admin::create_topics(std::span<const new_topic> topics,
                                                        millis timeout) {
  if (topics.empty()) return std::vector<topic_created>{};
  char errstr[512] = "";
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, new_topic_deleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const auto& t : topics) {
    std::unique_ptr<rd_kafka_NewTopic_t, new_topic_deleter> nt(rd_kafka_NewTopic_new(
        t.name.c_str(), t.partitions, t.replication_factor, errstr, sizeof errstr));
    if (!nt) return fail("create topic ", t.name, ": ", errstr);
    for (const auto& c : t.configs)
      if (auto r = check("create topic " + t.name + ": config " + c.key,
                         rd_kafka_NewTopic_set_config(nt.get(), c.key.c_str(), c.value.c_str()));
          !r)
        return std::unexpected(r.error());
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, admin_options_deleter> ao(
      rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (auto err = rd_kafka_AdminOptions_set_request_timeout(ao.get(), to_ms(timeout), errstr,
                                                           sizeof errstr))
    return kafka_error("create topics: request timeout", err, errstr);
  if (auto err = rd_kafka_AdminOptions_set_operation_timeout(ao.get(), to_ms(timeout), errstr,
                                                             sizeof errstr))
    return kafka_error("create topics: operation timeout", err, errstr);

  queue_ptr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_CreateTopics(rk_.get(), raw.data(), raw.size(), ao.get(), queue.get());
  // The request times out on its own; the extra second only covers delivering that answer.
  event_ptr ev(rd_kafka_queue_poll(queue.get(), to_ms(timeout + millis(1000))));
  if (!ev) return kafka_error("create topics", RD_KAFKA_RESP_ERR__TIMED_OUT);
  if (auto err = rd_kafka_event_error(ev.get())) {
    std::string detail = rd_kafka_event_error_string(ev.get());
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
      detail +=
          " (a development cluster does not implement CreateTopics: create topics with "
          "`meterflow dev-cluster --topic NAME:PARTITIONS` or its `topic` command)";
    return kafka_error("create topics", err, detail);
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  if (!res) return fail("create topics: unexpected answer ", rd_kafka_event_name(ev.get()));
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &count);
  std::vector<topic_created> out;
  for (const auto& t : topics) {
    const rd_kafka_topic_result_t* mine = nullptr;
    for (size_t i = 0; i < count; ++i)
      if (t.name == rd_kafka_topic_result_name(results[i])) mine = results[i];
    if (!mine) return fail("create topics: no answer for topic ", t.name);
    auto err = rd_kafka_topic_result_error(mine);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.push_back(topic_created::created);
    } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      out.push_back(topic_created::already_existed);
    } else {
      const char* detail = rd_kafka_topic_result_error_string(mine);
      return kafka_error("create topic " + t.name, err, detail ? detail : "");
    }
  }
  return out;
}

}  // namespace meterflow::kafka
