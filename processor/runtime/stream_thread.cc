#include "processor/runtime/stream_thread.h"

#include <algorithm>
#include <chrono>

#include "processor/kafka/retry.h"
#include "processor/runtime/metrics.h"

namespace meterflow {

namespace {

using clock = std::chrono::steady_clock;

timestamp wall_clock() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return timestamp{std::chrono::duration_cast<std::chrono::milliseconds>(now).count()};
}

}  // namespace

stream_thread::stream_thread(const stream_context& context, int index)
    : context_(context), options_(*context.options), index_(index) {}

stream_thread::~stream_thread() {
  batch_.clear();  // records must go before their consumer
  abandon_consumer_if_never_assigned();
  consumer_.reset();  // its close() revokes the tasks, which must still exist
}

// librdkafka before 2.3.0 aborts when a cooperative-sticky consumer that never got partitions is
// closed or destroyed (`rd_kafka_sticky_assignor_state_destroy: Assertion 'assignor_state'`,
// confluentinc/librdkafka#4312). Such a consumer holds nothing to commit or revoke, and the
// process is stopping: it is left to the exit instead (the group drops it after
// session.timeout.ms).
void stream_thread::abandon_consumer_if_never_assigned() {
  if (consumer_ && !ever_assigned_) (void)consumer_.release();
}

engine_counters stream_thread::counters() const {
  std::lock_guard lock(counters_mutex_);
  return counters_;
}

void stream_thread::publish_counters() {
  engine_counters sum;
  for (auto& [p, t] : tasks_) sum += t->counters();
  std::lock_guard lock(counters_mutex_);
  counters_ = sum;
}

result<void> stream_thread::start() {
  const bool eos = options_.guarantee == processing_guarantee::exactly_once_v2;
  kafka::producer_options po;
  po.bootstrap = context_.bootstrap;
  po.settings = options_.kafka;
  po.settings.set("client.id", context_.client_id);
  if (eos) {
    po.transactional_id = context_.client_id;
  } else {
    // Keep retrying while brokers are away: a record is never given up on (the idempotent
    // producer keeps order and drops duplicates of its retries).
    po.delivery_timeout = millis(0);
  }
  auto producer = kafka::producer::create(po);
  if (!producer) return std::unexpected(producer.error());
  producer_ = std::move(*producer);
  if (eos)
    if (auto r = producer_->init_transactions(millis(60'000)); !r) return r;
  // Learn every output topic now: a topic the producer meets first at produce time waits for
  // its metadata (up to a second with librdkafka 2.0), and a missing topic fails here, clearly.
  const std::string outputs[] = {options_.changelog_topic(), options_.charges_topic, options_.adjustments_topic,
                                 options_.alerts_topic, options_.dlq_topic};
  if (auto n = kafka::with_retries(millis(120'000), [&] {
        return kafka::fetch_partition_counts(producer_->native(), outputs, millis(30'000));
      });
      !n)
    return fail("output topics: ", n.error().message);

  env_.options = &options_;
  env_.producer = producer_.get();
  env_.bootstrap = context_.bootstrap;
  env_.log = context_.log;

  kafka::consumer_options co;
  co.bootstrap = context_.bootstrap;
  co.group_id = options_.application_id;
  co.cooperative = true;
  co.settings = options_.kafka;
  co.settings.set("client.id", context_.client_id);
  co.settings.set("enable.partition.eof", "true");
  if (!co.settings.contains("fetch.wait.max.ms")) co.settings.set("fetch.wait.max.ms", "100");
  if (!co.settings.contains("session.timeout.ms")) co.settings.set("session.timeout.ms", "6000");
  // librdkafka prefetches up to 64 MiB per consumer by default. Once the queue holds this
  // much, fetching stops and resumes only when librdkafka next looks, up to a second after the
  // queue has drained below it (kafka::consumer::create): the queue must hold more than a second
  // of input. 32 MiB is ~150,000 records of 220 bytes, over a second per stream thread here;
  // 16 MiB ran dry (1 M events: 196,000-220,000 events/s against 232,000-253,000, peak RSS
  // ~70 MiB lower).
  if (!co.settings.contains("queued.max.messages.kbytes")) co.settings.set("queued.max.messages.kbytes", "32768");
  // A task's offset outside its partition (records deleted by retention before they were
  // processed, or a topic re-created under the state) stops the instance instead of silently
  // reading from elsewhere.
  co.settings.set("auto.offset.reset", "error");
  co.hooks.on_assigned = [this](std::vector<kafka::topic_partition_offset>& ps) { return on_assigned(ps); };
  co.hooks.on_revoked = [this](const std::vector<kafka::topic_partition_offset>& ps, bool lost) {
    return on_revoked(ps, lost);
  };
  auto consumer = kafka::consumer::create(co);
  if (!consumer) return std::unexpected(consumer.error());
  consumer_ = std::move(*consumer);
  const std::string topics[] = {options_.input_topic};
  return consumer_->subscribe(topics);
}

result<void> stream_thread::on_assigned(std::vector<kafka::topic_partition_offset>& partitions) {
  caught_up_.store(false);  // before the runtime can see this thread own more partitions
  if (!partitions.empty()) ever_assigned_ = true;
  if (!joined_) {
    joined_ = true;
    context_.directories->joined(index_);
  }
  auto [cat, version] = context_.catalogs->get();
  for (auto& tp : partitions) {
    const int32_t p = tp.partition.value;
    if (auto r = context_.directories->claim(p, index_); !r) return r;
    auto at = open_task(p, cat);
    if (!at) {
      context_.directories->release(p);
      return std::unexpected(at.error());
    }
    tp.offset = *at;
    context_.log("task " + std::to_string(p) + " assigned to stream thread " + std::to_string(index_) +
                 (tasks_[p]->next_offset().is_logical() ? std::string(" (fresh)")
                                                        : " at offset " + std::to_string(at->value)));
  }
  catalog_version_ = std::max(catalog_version_, version);
  return {};
}

// Opens (restores) the task of partition `p` and makes it this thread's. Returns where its input
// is read from: a fresh task from the start, a task with state from its own offset.
result<kafka::kafka_offset> stream_thread::open_task(int32_t p, std::shared_ptr<const catalog> cat) {
  auto subscriptions = context_.subscriptions->since(p, 0);
  auto t = task::open(env_, p, std::move(cat), subscriptions);
  if (!t) return std::unexpected(t.error());
  if (const auto& r = (*t)->restored(); !r.kind.empty())
    context_.meters->restored(p, r.kind, r.records, r.duration);
  const kafka::kafka_offset at =
      (*t)->next_offset().is_logical() ? kafka::kafka_offset::beginning() : (*t)->next_offset();
  tasks_[p] = std::move(*t);
  subscriptions_applied_[p] = subscriptions.size();
  caught_up_since_.erase(p);
  return at;
}

result<void> stream_thread::on_revoked(const std::vector<kafka::topic_partition_offset>& partitions,
                                       bool lost) {
  std::vector<task*> leaving;
  for (const auto& tp : partitions)
    if (auto t = tasks_.find(tp.partition.value); t != tasks_.end()) leaving.push_back(t->second.get());
  if (lost || failed_) {
    // Someone else owns them already: nothing more is written for them (their next owner
    // republishes what their last acknowledged commit left in the outbox). The commits in
    // flight go on for the other tasks.
    for (task* t : leaving) forget(t);
  } else {
    // Commits in flight refer to the tasks: they finish first; then the tasks commit once more
    // and their published-marks go out, so the next owner republishes nothing delivered.
    if (auto r = drain(); !r) return r;
    if (auto r = commit(leaving); !r) return r;
    if (auto r = drain(); !r) return r;
    if (auto r = flush_marks(leaving); !r) return r;
  }
  for (const auto& tp : partitions) {
    const int32_t p = tp.partition.value;
    if (tasks_.erase(p) > 0) context_.directories->release(p);
    caught_up_since_.erase(p);
    subscriptions_applied_.erase(p);
    context_.log("task " + std::to_string(p) + (lost ? " lost" : " revoked"));
  }
  return {};
}

std::vector<task*> stream_thread::all_tasks() {
  std::vector<task*> v;
  for (auto& [p, t] : tasks_)
    if (!t->fenced()) v.push_back(t.get());
  return v;
}

// Drops a task from every commit in flight: none of its outputs or marks go out any more.
void stream_thread::forget(task* t) {
  for (auto& c : pipeline_) {
    std::erase(c->tasks, t);
    std::erase_if(c->offsets, [&](const auto& tp) { return tp.partition.value == t->partition(); });
  }
}

// A fenced task that is still assigned here opens again: a new claim, its state restored from
// the changelog (its own later commits may not count), and its input read again from there.
result<void> stream_thread::reopen_fenced() {
  std::vector<int32_t> fenced;
  for (auto& [p, t] : tasks_)
    if (t->fenced()) fenced.push_back(p);
  if (fenced.empty()) return {};
  auto assignment = consumer_->assignment();
  if (!assignment) return std::unexpected(assignment.error());
  auto [cat, version] = context_.catalogs->get();
  for (int32_t p : fenced) {
    forget(tasks_[p].get());
    tasks_.erase(p);  // closes its store: the new task opens the same directory
    if (std::ranges::none_of(*assignment, [&](const auto& tp) { return tp.partition.value == p; })) {
      context_.directories->release(p);  // no longer ours: the group moved it
      caught_up_since_.erase(p);
      subscriptions_applied_.erase(p);
      context_.log("task " + std::to_string(p) + " dropped after it was fenced (no longer assigned)");
      continue;
    }
    auto at = open_task(p, cat);
    if (!at) return std::unexpected(at.error());
    const kafka::topic_partition_offset seek[] = {{options_.input_topic, kafka::partition_id{p}, *at}};
    if (auto r = consumer_->seek(seek, millis(10'000)); !r) return r;
    context_.log("task " + std::to_string(p) + " reopened on stream thread " + std::to_string(index_) +
                 " at offset " + std::to_string(at->value));
  }
  catalog_version_ = std::max(catalog_version_, version);
  return {};
}

// Waits for every queued record to be acknowledged. While brokers are away this waits as long
// as it takes (records are never given up on), unless the instance is stopping.
result<void> stream_thread::flush(const char* what) {
  const auto started = clock::now();
  auto last_note = started;
  for (;;) {
    auto r = producer_->flush(millis(5'000));
    if (r) return {};
    if (!r.error().retriable) return fail(what, ": ", r.error().message);
    if (stop_ && stop_->load() && clock::now() - started > std::chrono::seconds(30))
      return fail(what, ": stopping with records unacknowledged: ", r.error().message);
    if (clock::now() - last_note >= std::chrono::seconds(30)) {
      context_.log(std::string(what) + ": still waiting for acknowledgements: " + r.error().message);
      last_note = clock::now();
    }
  }
}

// The published-marks of `tasks`, on the changelog and acknowledged (with everything else the
// producer holds).
result<void> stream_thread::flush_marks(const std::vector<task*>& tasks) {
  kafka::delivery_tracker marks;
  if (options_.guarantee == processing_guarantee::at_least_once) {
    for (task* t : tasks)
      if (auto r = t->produce_marks(&marks); !r) return r;
    if (auto r = flush("changelog"); !r) return r;
  } else {
    bool any = false;
    for (task* t : tasks) any = any || t->has_unsent_marks();
    if (!any) return {};
    if (auto r = producer_->begin_transaction(); !r) return r;
    for (task* t : tasks)
      if (auto r = t->produce_marks(&marks); !r) return r;
    if (auto r = producer_->commit_transaction(millis(60'000)); !r) return r;
    if (auto r = flush("changelog"); !r) return r;  // serves the delivery reports
  }
  for (task* t : tasks)
    if (auto ok = t->changelog_acknowledged(marks); !ok) return std::unexpected(ok.error());
  return {};
}

// Starts a commit of the dirty tasks among `tasks` (task.h): under at_least_once it joins the
// pipeline of commits in flight and the thread goes on processing; under exactly_once_v2 it
// completes in one transaction before returning.
result<void> stream_thread::commit(const std::vector<task*>& tasks) {
  auto c = std::make_unique<commit_in_flight>();
  c->started = clock::now();
  for (task* t : tasks) {
    if (!t->dirty() || t->fenced()) continue;
    if (auto r = t->prepare_commit(); !r) return r;
    c->tasks.push_back(t);
    if (!t->next_offset().is_logical())
      c->offsets.push_back({options_.input_topic, kafka::partition_id{t->partition()}, t->next_offset()});
  }
  if (c->tasks.empty()) return {};
  if (options_.guarantee == processing_guarantee::exactly_once_v2) return commit_transaction(*c);
  for (task* t : c->tasks)
    if (auto r = t->produce_changelog(&c->changelog); !r) return r;
  pipeline_.push_back(std::move(c));
  // A bounded pipeline: past this many commits in flight, processing waits for the oldest.
  while (pipeline_.size() > 4)
    if (auto r = advance(true); !r) return r;
  return advance(false);
}

result<void> stream_thread::commit_transaction(commit_in_flight& c) {
  const millis timeout(60'000);
  if (auto r = producer_->begin_transaction(); !r) return r;
  for (task* t : c.tasks)
    if (auto r = t->produce_changelog(&c.changelog); !r) return r;
  for (task* t : c.tasks)
    if (auto r = t->produce_outputs(); !r) return r;
  if (auto r = producer_->send_offsets_to_transaction(c.offsets, *consumer_, timeout); !r) return r;
  if (auto r = producer_->commit_transaction(timeout); !r) return r;
  if (auto r = flush("changelog"); !r) return r;  // serves the delivery reports
  for (task* t : c.tasks) {
    if (auto ok = t->changelog_acknowledged(c.changelog); !ok) return std::unexpected(ok.error());
    if (auto r = t->mark_published(); !r) return r;
  }
  return finished(c);
}

// Moves the oldest commit in flight on as far as its acknowledgements allow: changelog
// acknowledged → produce its outputs; outputs acknowledged → mark them published. `wait`: block
// until it has moved (or finished), serving delivery reports meanwhile.
result<void> stream_thread::advance(bool wait) {
  const auto started = clock::now();
  auto last_note = started;
  while (!pipeline_.empty()) {
    producer_->poll(millis(0));
    commit_in_flight& c = *pipeline_.front();
    for (auto* tracker : {&c.changelog, &c.outputs})
      if (tracker->failed > 0)
        return fail(tracker == &c.changelog ? "changelog: " : "outputs: ", std::to_string(tracker->failed),
                    " record(s) were not delivered: ", tracker->first_error);
    if (auto f = producer_->flush(millis(0)); !f && !f.error().retriable) return f;  // fatal errors
    if (!c.outputs_sent && c.changelog.settled()) {
      // Outputs leave only for tasks whose changelog batch counts (not fenced: task.h).
      std::vector<task*> fenced;
      for (task* t : c.tasks) {
        auto ok = t->changelog_acknowledged(c.changelog);
        if (!ok) return std::unexpected(ok.error());
        if (!*ok) fenced.push_back(t);
      }
      for (task* t : fenced) forget(t);
      for (task* t : c.tasks)
        if (auto r = t->produce_outputs(&c.outputs); !r) return r;
      c.outputs_sent = true;
      continue;
    }
    if (c.outputs_sent && c.outputs.settled()) {
      for (task* t : c.tasks) {
        if (auto r = t->mark_published(); !r) return r;
        if (auto r = t->produce_marks(); !r) return r;  // acknowledged with later records
      }
      if (!c.offsets.empty())  // for lag monitoring only: a task resumes from its own state
        if (auto r = consumer_->commit_async(c.offsets); !r) context_.log("offset commit: " + r.error().message);
      if (auto r = finished(c); !r) return r;
      pipeline_.pop_front();
      continue;
    }
    if (!wait) return {};
    producer_->poll(millis(5));
    if (stop_ && stop_->load() && clock::now() - started > std::chrono::seconds(30))
      return fail("stopping with records unacknowledged");
    if (clock::now() - last_note >= std::chrono::seconds(30)) {
      context_.log("commit: still waiting for acknowledgements (" + std::to_string(producer_->in_flight()) +
                   " records in flight)");
      last_note = clock::now();
    }
  }
  return {};
}

// Waits until every commit in flight has finished.
result<void> stream_thread::drain() {
  while (!pipeline_.empty())
    if (auto r = advance(true); !r) return r;
  return {};
}

result<void> stream_thread::finished(const commit_in_flight& c) {
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - c.started);
  context_.stats->committed(took, std::chrono::system_clock::now());
  context_.meters->committed(took);
  publish_counters();
  return {};
}

// Subscription records and catalog reloads the runtime received since the last look.
void stream_thread::apply_shared_changes() {
  publish_counters();  // also when no commit happens (all tasks idle after a rebalance)
  for (auto& [p, t] : tasks_) {
    size_t& applied = subscriptions_applied_[p];
    for (const auto& r : context_.subscriptions->since(p, applied)) {
      t->apply_subscription(r);
      ++applied;
    }
  }
  auto [cat, version] = context_.catalogs->get();
  if (version != catalog_version_) {
    for (auto& [p, t] : tasks_) t->set_catalog(cat);
    catalog_version_ = version;
  }
}

result<void> stream_thread::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  auto r = start();
  if (r) r = process_until(stop);
  if (!r) {
    // Leave the group without committing anything more: the tasks resume from their last
    // commit wherever they go next.
    failed_ = true;
    batch_.clear();
    abandon_consumer_if_never_assigned();
    consumer_.reset();
  }
  return r;
}

result<void> stream_thread::process_until(const std::atomic<bool>& stop) {
  auto last_commit = clock::now();
  auto last_shared = clock::now();
  int64_t since_commit = 0;
  size_t since_advance = 0;
  while (!stop.load()) {
    const auto now = clock::now();
    if (now - last_shared >= std::chrono::milliseconds(100)) {
      apply_shared_changes();
      last_shared = now;
    }
    // Short waits while commits are in flight, so their next stage starts soon after the acks.
    if (auto r = consumer_->poll_batch(millis(pipeline_.empty() ? 50 : 1), 512, batch_); !r)
      return std::unexpected(r.error());
    if (!pipeline_.empty() && (batch_.empty() || (since_advance += batch_.size()) >= 256)) {
      if (auto r = advance(false); !r) return r;
      since_advance = 0;
    }
    const timestamp wall = wall_clock();
    int64_t skipped = 0;
    // Consecutive records of one partition (a fetch delivers them so) go to its task together.
    task* run_task = nullptr;
    const auto process_run = [&] {
      if (run_task && !run_.empty()) skipped += run_task->process(run_, wall);
      run_.clear();
    };
    for (const kafka::message& m : batch_) {
      const int32_t p = m.partition().value;
      if (m.is_partition_eof()) {
        if (tasks_.contains(p)) caught_up_since_.try_emplace(p, now);
      } else if (auto t = tasks_.find(p); t != tasks_.end()) {
        if (t->second.get() != run_task) {
          process_run();
          run_task = t->second.get();
        }
        caught_up_since_.erase(p);
        run_.push_back({m.value().value_or(std::string_view{}), m.offset().value});
        if (since_commit++ == 0 && !first_record_seen_) {
          context_.stats->first_record(std::chrono::system_clock::now());
          first_record_seen_ = true;
        }
      }
    }
    process_run();
    if (skipped > 0) context_.meters->skipped(skipped);
    // The idle rule: a partition with nothing left to read for idle.close bills by the wall clock.
    for (auto& [p, since] : caught_up_since_)
      if (now - since >= options_.idle_close)
        if (auto t = tasks_.find(p); t != tasks_.end()) t->second->close_idle(wall_clock());
    if (now - last_commit >= options_.commit_interval || since_commit >= options_.commit_records) {
      if (auto r = commit(all_tasks()); !r) return r;
      context_.stats->records_processed(since_commit);
      context_.meters->processed(since_commit);
      last_commit = now;
      since_commit = 0;
    }
    if (auto r = reopen_fenced(); !r) return r;
    bool idle = pipeline_.empty() && caught_up_since_.size() == tasks_.size();
    if (idle)
      for (auto& [p, t] : tasks_) idle = idle && !t->dirty();
    caught_up_.store(idle, std::memory_order_relaxed);
  }
  auto tasks = all_tasks();
  if (auto r = commit(tasks); !r) return r;
  if (auto r = drain(); !r) return r;
  context_.stats->records_processed(since_commit);
  if (auto r = flush_marks(tasks); !r) return r;
  publish_counters();
  batch_.clear();
  abandon_consumer_if_never_assigned();
  if (!consumer_) return {};
  return consumer_->close();  // revokes (nothing left to commit) and leaves the group
}

}  // namespace meterflow
