#include "processor/runtime/runtime.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "processor/kafka/client.h"
#include "processor/kafka/retry.h"
#include "processor/runtime/metrics.h"
#include "processor/runtime/shared.h"
#include "processor/runtime/stream_thread.h"
#include "processor/runtime/task_directories.h"

namespace meterflow {

namespace {

using clock = std::chrono::steady_clock;

void log_line(const std::string& message) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  timestamp t{std::chrono::duration_cast<std::chrono::milliseconds>(now).count()};
  std::fprintf(stderr, "%s meterflow: %s\n", format_utc(t).c_str(), message.c_str());
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

class instance {
 public:
  instance(const run_options& o, std::string bootstrap)
      : options_(o), bootstrap_(std::move(bootstrap)), catalog_file_(o.catalog_path) {}

  result<run_report> run(run_signals& signals, const run_controls& controls);

 private:
  result<void> start();
  result<void> read_subscriptions(millis timeout);
  void reload_catalog();
  void report_progress();
  bool caught_up() const;

  const run_options& options_;
  std::string bootstrap_;
  catalog_source catalog_file_;
  catalog_box catalogs_;
  subscription_table subscriptions_;
  run_stats stats_;
  std::unique_ptr<metrics> metrics_;
  std::unique_ptr<kafka::consumer> subscriptions_reader_;
  std::unique_ptr<task_directories> directories_;
  std::vector<std::unique_ptr<stream_context>> contexts_;
  std::vector<std::unique_ptr<stream_thread>> threads_;
  int partitions_ = 0;
};

// An id for this run of the instance: client.id and transactional.id of its threads.
std::string instance_id(const std::string& application_id) {
  std::random_device rd;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", rd(), rd());
  return application_id + "-" + hex;
}

result<void> instance::start() {
  auto cat = catalog_file_.load();
  if (!cat) return fail("catalog: ", cat.error().message);
  catalogs_.set(*cat);
  auto m = metrics::create(options_.metrics_address);
  if (!m) return std::unexpected(m.error());
  metrics_ = std::move(*m);

  const millis patience(120'000);
  // Subscriptions: the whole history, read to the end before any event is processed.
  auto reader = make_reader(options_, bootstrap_, "subscriptions");
  if (!reader) return std::unexpected(reader.error());
  subscriptions_reader_ = std::move(*reader);
  // Brokers may be restarting while this instance starts: retriable errors are waited out.
  auto partition_count = [&](const std::string& topic) {
    return kafka::with_retries(patience, [&] { return subscriptions_reader_->partition_count(topic, millis(30'000)); });
  };
  auto input_partitions = partition_count(options_.input_topic);
  if (!input_partitions) return fail("input topic ", options_.input_topic, ": ", input_partitions.error().message);
  auto sub_partitions = partition_count(options_.subscriptions_topic);
  if (!sub_partitions)
    return fail("subscriptions topic ", options_.subscriptions_topic, ": ", sub_partitions.error().message);
  if (*input_partitions != *sub_partitions)
    return fail("the subscriptions topic ", options_.subscriptions_topic, " has ",
                std::to_string(*sub_partitions), " partitions and the input topic ",
                options_.input_topic, " has ", std::to_string(*input_partitions),
                ": they must be co-partitioned (same count, keyed by tenant)");
  auto changelog_partitions =
      partition_count(options_.changelog_topic());
  if (!changelog_partitions || *changelog_partitions != *input_partitions)
    return fail("the changelog topic ", options_.changelog_topic(), " must exist with ",
                std::to_string(*input_partitions),
                " partitions (cleanup.policy=compact on Kafka); create it before starting");
  partitions_ = *input_partitions;
  // The ends first, then the assignment: once fetches are in flight, every watermark query
  // waits behind one (fetch.wait.max.ms), which took 6.4 s for 128 partitions.
  std::map<int32_t, int64_t> high;
  for (int p = 0; p < partitions_; ++p) {
    auto wm = kafka::with_retries(patience, [&] {
      return subscriptions_reader_->query_watermarks({options_.subscriptions_topic, kafka::partition_id{p}},
                                                     millis(30'000));
    });
    if (!wm) return std::unexpected(wm.error());
    high[p] = wm->high.value;
  }
  std::vector<kafka::topic_partition_offset> all;
  for (int p = 0; p < partitions_; ++p)
    all.push_back({options_.subscriptions_topic, kafka::partition_id{p}, kafka::kafka_offset::beginning()});
  if (auto r = subscriptions_reader_->assign(all); !r) return r;
  std::map<int32_t, int64_t> next;
  auto deadline = clock::now() + std::chrono::minutes(2);
  auto behind = [&] {
    for (auto [p, h] : high)
      if (next[p] < h) return true;
    return false;
  };
  while (behind()) {
    if (clock::now() > deadline) return fail("timed out reading the subscriptions topic");
    auto msg = subscriptions_reader_->poll(millis(200));
    if (!msg) return std::unexpected(msg.error());
    if (!*msg) continue;
    next[(*msg)->partition().value] = (*msg)->offset().value + 1;
    if ((*msg)->is_partition_eof() || !(*msg)->value()) continue;
    auto r = parse_subscription(*(*msg)->value());
    if (!r) {
      log_line("subscription at " + options_.subscriptions_topic + "[" +
               std::to_string((*msg)->partition().value) + "]@" + std::to_string((*msg)->offset().value) +
               " ignored: " + r.error().message);
      continue;
    }
    subscriptions_.append((*msg)->partition().value, std::move(*r));
  }
  log_line("read " + std::to_string(subscriptions_.size()) + " subscription records from " +
           options_.subscriptions_topic);

  directories_ = std::make_unique<task_directories>(options_, bootstrap_, partitions_,
                                                    options_.num_stream_threads, log_line);
  const std::string id = instance_id(options_.application_id);
  for (int i = 0; i < options_.num_stream_threads; ++i) {
    auto c = std::make_unique<stream_context>();
    c->options = &options_;
    c->bootstrap = bootstrap_;
    c->client_id = id + "-" + std::to_string(i);
    c->subscriptions = &subscriptions_;
    c->catalogs = &catalogs_;
    c->directories = directories_.get();
    c->stats = &stats_;
    c->meters = metrics_.get();
    c->log = log_line;
    threads_.push_back(std::make_unique<stream_thread>(*c, i));
    contexts_.push_back(std::move(c));
  }
  return {};
}

// Later subscription records go to the table; the stream threads apply them to their tasks.
result<void> instance::read_subscriptions(millis timeout) {
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
    subscriptions_.append((*m)->partition().value, std::move(*r));
  }
  return {};
}

// One line of counts over the tasks of all stream threads (since each task's state began).
void instance::report_progress() {
  engine_counters sum;
  for (const auto& t : threads_) sum += t->counters();
  metrics_->events(sum);
  metrics_->tasks(directories_->owned(), directories_->standbys());
  std::string dead;
  for (int i = 0; i < dead_letter_reason_count; ++i)
    if (sum.dead_letters[i] > 0)
      dead += " " + std::string(to_string(static_cast<dead_letter_reason>(i))) + "=" +
              std::to_string(sum.dead_letters[i]);
  log_line(std::to_string(directories_->owned()) + " tasks, " +
           std::to_string(directories_->standbys()) + " standbys: " + std::to_string(sum.accepted) +
           " accepted, " + std::to_string(sum.duplicates) + " duplicates, dead letters:" +
           (dead.empty() ? " none" : dead));
}

void instance::reload_catalog() {
  auto cat = catalog_file_.load();
  if (!cat) {
    log_line("catalog reload rejected, keeping the previous catalog: " + cat.error().message);
    return;
  }
  catalogs_.set(*cat);
  log_line("catalog reloaded from " + options_.catalog_path + "; it applies to segments that start from now on");
}

bool instance::caught_up() const {
  if (static_cast<int>(directories_->owned()) != partitions_) return false;
  return std::all_of(threads_.begin(), threads_.end(), [](const auto& t) { return t->caught_up(); });
}

result<run_report> instance::run(run_signals& signals, const run_controls& controls) {
  if (auto r = start(); !r) return std::unexpected(r.error());
  log_line("processing " + options_.input_topic + " (" + std::to_string(partitions_) +
           " partitions) as application " + options_.application_id + " with " +
           std::to_string(options_.num_stream_threads) + " stream thread(s)" +
           (options_.num_standby_replicas > 0 ? " and standby replicas" : ""));
  std::atomic<bool> stop{false};
  std::mutex failure_mutex;
  std::optional<error> failure;
  auto fail_with = [&](const error& e) {
    std::lock_guard lock(failure_mutex);
    if (!failure) failure = e;
    stop.store(true);
  };
  std::vector<std::thread> workers;
  for (auto& t : threads_)
    workers.emplace_back([&, t = t.get()] {
      if (auto r = t->run(stop); !r) fail_with(r.error());
    });
  if (options_.num_standby_replicas > 0)
    workers.emplace_back([&] {
      if (auto r = directories_->run_standbys(stop); !r) fail_with(error{"standby: " + r.error().message});
    });

  auto last_report = clock::now();
  int caught_up_checks = 0;
  while (!stop.load() && !signals.stop.load()) {
    if (signals.reload.exchange(false) || catalog_file_.changed()) reload_catalog();
    if (auto r = read_subscriptions(millis(100)); !r) fail_with(r.error());
    if (clock::now() - last_report >= std::chrono::seconds(10)) {
      report_progress();
      last_report = clock::now();
    }
    // Two looks in a row, so a record that arrived in between is not missed.
    caught_up_checks = controls.until_caught_up && caught_up() ? caught_up_checks + 1 : 0;
    if (caught_up_checks >= 2) {
      log_line("every partition read to its end, committed and acknowledged");
      break;
    }
  }
  log_line("stopping: committing and leaving the group");
  stop.store(true);
  for (auto& w : workers) w.join();
  report_progress();
  if (failure) return std::unexpected(*failure);

  run_report report;
  const auto s = stats_.summarise();
  auto ms = [](std::optional<run_stats::wall> t) -> int64_t {
    if (!t) return 0;
    return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
  };
  report.records = s.records;
  report.first_record_ms = ms(s.first_record);
  report.last_ack_ms = ms(s.last_ack);
  report.commits = s.commits;
  report.commit_p50_ms = s.commit_p50_ms;
  report.commit_p99_ms = s.commit_p99_ms;
  report.commit_max_ms = s.commit_max_ms;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  report.peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
  return report;
}

}  // namespace

std::string run_report::to_json() const {
  const double elapsed_s = last_ack_ms > first_record_ms ? (last_ack_ms - first_record_ms) / 1000.0 : 0;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"records\": %lld, \"first_record_ms\": %lld, \"last_ack_ms\": %lld, "
                "\"elapsed_s\": %.3f, \"events_per_s\": %.1f, \"commits\": %lld, "
                "\"commit_p50_ms\": %.3f, \"commit_p99_ms\": %.3f, \"commit_max_ms\": %.3f, "
                "\"peak_rss_mb\": %.1f}\n",
                static_cast<long long>(records), static_cast<long long>(first_record_ms),
                static_cast<long long>(last_ack_ms), elapsed_s,
                elapsed_s > 0 ? static_cast<double>(records) / elapsed_s : 0.0,
                static_cast<long long>(commits), commit_p50_ms, commit_p99_ms, commit_max_ms,
                peak_rss_mb);
  return buf;
}

result<run_report> run_processor(const run_options& options, const std::string& bootstrap,
                                 run_signals& signals, const run_controls& controls) {
  instance i(options, bootstrap);
  return i.run(signals, controls);
}

}  // namespace meterflow
