#include "processor/runtime/runtime.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "processor/kafka/client.h"
#include "processor/runtime/task.h"

namespace meterflow {

namespace {

using clock = std::chrono::steady_clock;

void log_line(const std::string& message) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  timestamp t{std::chrono::duration_cast<std::chrono::milliseconds>(now).count()};
  std::fprintf(stderr, "%s meterflow: %s\n", format_utc(t).c_str(), message.c_str());
}

timestamp wall_clock() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return timestamp{std::chrono::duration_cast<std::chrono::milliseconds>(now).count()};
}

// The catalog file, reloaded when it changes or on request.
class catalog_source {
 public:
  explicit catalog_source(std::string path) : path_(std::move(path)) {}
  result<std::shared_ptr<const catalog>> load() {
    auto c = catalog::load_file(path_);
    if (!c) return std::unexpected(c.error());
    std::error_code ec;
    mtime_ = std::filesystem::last_write_time(path_, ec);
    return std::make_shared<const catalog>(std::move(*c));
  }
  bool changed() {
    if (clock::now() - last_check_ < std::chrono::seconds(1)) return false;
    last_check_ = clock::now();
    std::error_code ec;
    auto m = std::filesystem::last_write_time(path_, ec);
    return !ec && m != mtime_;
  }

 private:
  std::string path_;
  std::filesystem::file_time_type mtime_{};
  clock::time_point last_check_{};
};

class processor_loop {
 public:
  processor_loop(const run_options& o, std::string bootstrap)
      : options_(o), bootstrap_(std::move(bootstrap)), catalog_file_(o.catalog_path) {}

  result<void> run(run_signals& signals);

 private:
  result<void> start();
  result<void> read_subscriptions(millis timeout);
  result<void> on_assigned(std::vector<kafka::topic_partition_offset>& partitions);
  result<void> on_revoked(const std::vector<kafka::topic_partition_offset>& partitions, bool lost);
  result<void> commit(const std::vector<task*>& tasks);
  result<void> commit_all();
  void reload_catalog();
  void report_progress();
  std::vector<task*> all_tasks();

  const run_options& options_;
  std::string bootstrap_;
  catalog_source catalog_file_;
  std::shared_ptr<const catalog> catalog_;
  std::unique_ptr<kafka::producer> producer_;
  std::unique_ptr<kafka::consumer> consumer_;
  std::unique_ptr<kafka::consumer> subscriptions_reader_;
  task_env env_;
  std::map<int32_t, std::unique_ptr<task>> tasks_;
  std::map<int32_t, std::vector<subscription_record>> subscriptions_;  // per partition, in order
  std::map<int32_t, clock::time_point> caught_up_since_;  // partitions with nothing left to read
  int partitions_ = 0;
};

result<void> processor_loop::start() {
  auto cat = catalog_file_.load();
  if (!cat) return fail("catalog: ", cat.error().message);
  catalog_ = *cat;

  kafka::producer_options po;
  po.bootstrap = bootstrap_;
  po.settings = options_.kafka;
  if (options_.guarantee == processing_guarantee::exactly_once_v2)
    po.transactional_id = options_.application_id + "-producer";
  auto producer = kafka::producer::create(po);
  if (!producer) return std::unexpected(producer.error());
  producer_ = std::move(*producer);
  if (options_.guarantee == processing_guarantee::exactly_once_v2)
    if (auto r = producer_->init_transactions(millis(60'000)); !r) return r;

  env_.options = &options_;
  env_.producer = producer_.get();
  env_.bootstrap = bootstrap_;
  env_.log = log_line;

  // Subscriptions: the whole history, read to the end before any event is processed.
  auto reader = make_reader(options_, bootstrap_, "subscriptions");
  if (!reader) return std::unexpected(reader.error());
  subscriptions_reader_ = std::move(*reader);
  auto input_partitions = subscriptions_reader_->partition_count(options_.input_topic, millis(30'000));
  if (!input_partitions) return fail("input topic ", options_.input_topic, ": ", input_partitions.error().message);
  auto sub_partitions = subscriptions_reader_->partition_count(options_.subscriptions_topic, millis(30'000));
  if (!sub_partitions)
    return fail("subscriptions topic ", options_.subscriptions_topic, ": ", sub_partitions.error().message);
  if (*input_partitions != *sub_partitions)
    return fail("the subscriptions topic ", options_.subscriptions_topic, " has ",
                std::to_string(*sub_partitions), " partitions and the input topic ",
                options_.input_topic, " has ", std::to_string(*input_partitions),
                ": they must be co-partitioned (same count, keyed by tenant)");
  auto changelog_partitions =
      subscriptions_reader_->partition_count(options_.changelog_topic(), millis(30'000));
  if (!changelog_partitions || *changelog_partitions != *input_partitions)
    return fail("the changelog topic ", options_.changelog_topic(), " must exist with ",
                std::to_string(*input_partitions),
                " partitions (cleanup.policy=compact on Kafka); create it before starting");
  partitions_ = *input_partitions;
  std::vector<kafka::topic_partition_offset> all;
  for (int p = 0; p < partitions_; ++p)
    all.push_back({options_.subscriptions_topic, kafka::partition_id{p}, kafka::kafka_offset::beginning()});
  if (auto r = subscriptions_reader_->assign(all); !r) return r;
  std::map<int32_t, int64_t> high;
  for (int p = 0; p < partitions_; ++p) {
    auto wm = subscriptions_reader_->query_watermarks({options_.subscriptions_topic, kafka::partition_id{p}}, millis(30'000));
    if (!wm) return std::unexpected(wm.error());
    high[p] = wm->high.value;
  }
  std::map<int32_t, int64_t> next;
  auto deadline = clock::now() + std::chrono::minutes(2);
  auto behind = [&] {
    for (auto [p, h] : high)
      if (next[p] < h) return true;
    return false;
  };
  while (behind()) {
    if (clock::now() > deadline) return fail("timed out reading the subscriptions topic");
    auto m = subscriptions_reader_->poll(millis(200));
    if (!m) return std::unexpected(m.error());
    if (!*m) continue;
    next[(*m)->partition().value] = (*m)->offset().value + 1;
    if ((*m)->is_partition_eof() || !(*m)->value()) continue;
    auto r = parse_subscription(*(*m)->value());
    if (!r) {
      log_line("subscription at " + options_.subscriptions_topic + "[" +
               std::to_string((*m)->partition().value) + "]@" + std::to_string((*m)->offset().value) +
               " ignored: " + r.error().message);
      continue;
    }
    subscriptions_[(*m)->partition().value].push_back(std::move(*r));
  }
  size_t count = 0;
  for (const auto& [p, v] : subscriptions_) count += v.size();
  log_line("read " + std::to_string(count) + " subscription records from " + options_.subscriptions_topic);

  kafka::consumer_options co;
  co.bootstrap = bootstrap_;
  co.group_id = options_.application_id;
  co.cooperative = true;
  co.settings = options_.kafka;
  co.settings.set("enable.partition.eof", "true");
  if (!co.settings.contains("fetch.wait.max.ms")) co.settings.set("fetch.wait.max.ms", "100");
  if (!co.settings.contains("session.timeout.ms")) co.settings.set("session.timeout.ms", "6000");
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

// Later subscription records apply to their partition's task as they arrive.
result<void> processor_loop::read_subscriptions(millis timeout) {
  for (int i = 0; i < 100; ++i) {
    auto m = subscriptions_reader_->poll(i == 0 ? timeout : millis(0));
    if (!m) return std::unexpected(m.error());
    if (!*m) return {};
    if ((*m)->is_partition_eof() || !(*m)->value()) continue;
    auto r = parse_subscription(*(*m)->value());
    if (!r) {
      log_line("subscription ignored: " + r.error().message);
      continue;
    }
    int32_t p = (*m)->partition().value;
    if (auto t = tasks_.find(p); t != tasks_.end()) t->second->apply_subscription(*r);
    subscriptions_[p].push_back(std::move(*r));
  }
  return {};
}

result<void> processor_loop::on_assigned(std::vector<kafka::topic_partition_offset>& partitions) {
  for (auto& tp : partitions) {
    const int32_t p = tp.partition.value;
    auto t = task::open(env_, p, catalog_, subscriptions_[p]);
    if (!t) return std::unexpected(t.error());
    tp.offset = (*t)->next_offset();  // invalid for a fresh task: the group's offset, or earliest
    log_line("task " + std::to_string(p) + " assigned" +
             (tp.offset.is_logical() ? std::string(" (fresh)")
                                     : " at offset " + std::to_string(tp.offset.value)));
    tasks_[p] = std::move(*t);
    caught_up_since_.erase(p);
  }
  return {};
}

result<void> processor_loop::on_revoked(const std::vector<kafka::topic_partition_offset>& partitions,
                                        bool lost) {
  std::vector<task*> leaving;
  for (const auto& tp : partitions)
    if (auto t = tasks_.find(tp.partition.value); t != tasks_.end()) leaving.push_back(t->second.get());
  if (!lost)
    if (auto r = commit(leaving); !r) return r;
  for (const auto& tp : partitions) {
    tasks_.erase(tp.partition.value);
    caught_up_since_.erase(tp.partition.value);
    log_line("task " + std::to_string(tp.partition.value) + (lost ? " lost" : " revoked"));
  }
  return {};
}

std::vector<task*> processor_loop::all_tasks() {
  std::vector<task*> v;
  for (auto& [p, t] : tasks_) v.push_back(t.get());
  return v;
}

// The commit cycle (task.h): local batches, changelog acknowledged, outputs acknowledged, marked
// published; under exactly_once_v2 changelog, outputs and group offsets in one transaction.
result<void> processor_loop::commit(const std::vector<task*>& tasks) {
  std::vector<task*> dirty;
  for (task* t : tasks)
    if (t->dirty()) dirty.push_back(t);
  if (dirty.empty()) return {};
  const bool eos = options_.guarantee == processing_guarantee::exactly_once_v2;
  const millis timeout(60'000);
  std::vector<kafka::topic_partition_offset> offsets;
  for (task* t : dirty) {
    if (auto r = t->prepare_commit(); !r) return r;
    if (!t->next_offset().is_logical())
      offsets.push_back({options_.input_topic, kafka::partition_id{t->partition()}, t->next_offset()});
  }
  if (eos)
    if (auto r = producer_->begin_transaction(); !r) return r;
  for (task* t : dirty)
    if (auto r = t->produce_changelog(); !r) return r;
  if (!eos)
    if (auto r = producer_->flush(timeout); !r) return fail("changelog: ", r.error().message);
  for (task* t : dirty)
    if (auto r = t->produce_outputs(); !r) return r;
  if (eos) {
    if (auto r = producer_->send_offsets_to_transaction(offsets, *consumer_, timeout); !r) return r;
    if (auto r = producer_->commit_transaction(timeout); !r) return r;
  } else if (auto r = producer_->flush(timeout); !r) {
    return fail("outputs: ", r.error().message);
  }
  for (task* t : dirty)
    if (auto r = t->mark_published(); !r) return r;
  if (!eos && !offsets.empty()) {
    // For lag monitoring only: the task's own stored offset is what it resumes from.
    if (auto r = consumer_->commit(offsets); !r) log_line("offset commit: " + r.error().message);
  }
  return {};
}

result<void> processor_loop::commit_all() { return commit(all_tasks()); }

// One line of counts over the assigned tasks (since each task's state began).
void processor_loop::report_progress() {
  engine_counters sum;
  for (auto& [p, t] : tasks_) {
    const auto& c = t->counters();
    sum.accepted += c.accepted;
    sum.duplicates += c.duplicates;
    for (size_t i = 0; i < sum.dead_letters.size(); ++i) sum.dead_letters[i] += c.dead_letters[i];
  }
  std::string dead;
  for (int i = 0; i < dead_letter_reason_count; ++i)
    if (sum.dead_letters[i] > 0)
      dead += " " + std::string(to_string(static_cast<dead_letter_reason>(i))) + "=" +
              std::to_string(sum.dead_letters[i]);
  log_line(std::to_string(tasks_.size()) + " tasks: " + std::to_string(sum.accepted) +
           " accepted, " + std::to_string(sum.duplicates) + " duplicates, dead letters:" +
           (dead.empty() ? " none" : dead));
}

void processor_loop::reload_catalog() {
  auto cat = catalog_file_.load();
  if (!cat) {
    log_line("catalog reload rejected, keeping the previous catalog: " + cat.error().message);
    return;
  }
  catalog_ = *cat;
  for (auto& [p, t] : tasks_) t->set_catalog(catalog_);
  log_line("catalog reloaded from " + options_.catalog_path + "; it applies to segments that start from now on");
}

result<void> processor_loop::run(run_signals& signals) {
  if (auto r = start(); !r) return r;
  log_line("processing " + options_.input_topic + " (" + std::to_string(partitions_) +
           " partitions) as application " + options_.application_id);
  auto last_commit = clock::now();
  auto last_report = clock::now();
  int64_t since_commit = 0;
  while (!signals.stop.load()) {
    if (signals.reload.exchange(false) || catalog_file_.changed()) reload_catalog();
    if (auto r = read_subscriptions(millis(0)); !r) return r;
    auto m = consumer_->poll(millis(50));
    if (!m) return std::unexpected(m.error());
    const auto now = clock::now();
    if (*m) {
      const int32_t p = (*m)->partition().value;
      if ((*m)->is_partition_eof()) {
        caught_up_since_.try_emplace(p, now);
      } else if (auto t = tasks_.find(p); t != tasks_.end()) {
        caught_up_since_.erase(p);
        t->second->process((*m)->value().value_or(std::string_view{}), (*m)->offset().value, wall_clock());
        ++since_commit;
      }
    }
    // The idle rule: a partition with nothing left to read for idle.close bills by the wall clock.
    for (auto& [p, since] : caught_up_since_)
      if (now - since >= options_.idle_close)
        if (auto t = tasks_.find(p); t != tasks_.end()) t->second->close_idle(wall_clock());
    if (now - last_report >= std::chrono::seconds(10)) {
      report_progress();
      last_report = now;
    }
    if (now - last_commit >= options_.commit_interval || since_commit >= options_.commit_records) {
      if (auto r = commit_all(); !r) return r;
      last_commit = now;
      since_commit = 0;
    }
  }
  log_line("stopping: committing and leaving the group");
  report_progress();
  if (auto r = commit_all(); !r) return r;
  return consumer_->close();
}

}  // namespace

result<void> run_processor(const run_options& options, const std::string& bootstrap,
                           run_signals& signals) {
  processor_loop loop(options, bootstrap);
  return loop.run(signals);
}

}  // namespace meterflow
