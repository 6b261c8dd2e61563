#include "processor/commands/bench.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "bench/workload.h"
#include "processor/commands/detail/child_process.h"
#include "processor/kafka/client.h"
#include "processor/kafka/dev_cluster.h"
#include "topology/json_writer.h"

namespace meterflow {

namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// What is measured, in the order of the table and the JSON.
struct figure {
  const char* key;    // JSON key
  const char* label;  // table row
  int decimals;
};
constexpr figure figures[] = {
    {"offline_memory_eps", "offline engine, in-memory state: events/s", 0},
    {"offline_rocksdb_eps", "offline engine, RocksDB state: events/s", 0},
    {"offline_memory_peak_rss_mb", "offline engine, in-memory state: peak RSS, MiB", 1},
    {"offline_rocksdb_peak_rss_mb", "offline engine, RocksDB state: peak RSS, MiB", 1},
    {"state_bytes_per_event", "RocksDB state directory after the run, bytes per accepted event", 1},
    {"ceiling_eps", "ceiling: librdkafka consume -> produce pipe, events/s", 0},
    {"ceiling_peak_rss_mb", "ceiling pipe: peak RSS, MiB", 1},
    {"end_to_end_eps", "meterflow run, end to end: events/s", 0},
    {"ratio", "end to end / ceiling (each run with the pipe run before it)", 3},
    {"commit_p50_ms", "meterflow run: commit cycle p50, ms", 2},
    {"commit_p99_ms", "meterflow run: commit cycle p99, ms", 2},
    {"peak_rss_mb", "meterflow run: peak RSS, MiB", 1},
    {"changelog_records_per_event", "meterflow run: changelog records written per input record", 2},
    {"output_records_per_event", "meterflow run: output records per input record", 2},
    {"ceiling_cpu_us_per_event", "ceiling pipe: CPU per record, µs (pipe process + broker)", 2},
    {"end_to_end_cpu_us_per_event", "meterflow run: CPU per record, µs (whole process with start-up + broker)", 2},
};

struct sizes {
  int64_t offline_events;
  int64_t kafka_events;
  int partitions;  // of every topic on the development cluster
};
constexpr sizes full_sizes{2'000'000, 1'000'000, 128};
constexpr sizes quick_sizes{100'000, 30'000, 8};

// `events` over `hours` of event time: the fewer hours, the more events per window and the fewer
// charges per event (24 h: ~0.47 charge lines per event; 2 h: ~0.13).
workload::workload_options workload_of(int64_t events, int64_t hours) {
  workload::workload_options w;
  w.events = events;
  w.tenants = 10'000;
  w.hours = hours;  // defaults: seed 42, 1 % duplicates, 0.5 % late
  return w;
}

// Whole numbers with thousands separators ("1,234,567"), others with `decimals` decimals.
std::string format(double v, int decimals) {
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals).ptr;
  std::string text(buf, end);
  if (decimals > 0) return text;
  for (int i = static_cast<int>(text.size()) - 3; i > (text[0] == '-' ? 1 : 0); i -= 3)
    text.insert(static_cast<size_t>(i), ",");
  return text;
}

std::string json_number(double v, int decimals) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals).ptr);
}

struct spread {
  double median, min, max;
};
spread spread_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

result<int64_t> dir_bytes(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec))
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  if (ec) return fail(dir.string(), ": ", ec.message());
  return total;
}

// The numeric top-level members of a JSON report file.
using report = std::map<std::string, double, std::less<>>;
result<report> read_report(const fs::path& path) {
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path.string()).get(text)) return fail(path.string(), ": cannot read");
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(text).get(doc) || doc.get_object().get(object))
    return fail(path.string(), ": not a JSON object");
  report r;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    simdjson::ondemand::json_type type;
    if (field.unescaped_key().get(key) || field.value().get(value) || value.type().get(type))
      return fail(path.string(), ": not valid JSON");
    double number = 0;
    if (type == simdjson::ondemand::json_type::number && !value.get_double().get(number))
      r.emplace(std::string(key), number);
  }
  return r;
}

// Errors: a member the bench needs is missing from the report of `what`.
result<void> require(const report& r, std::initializer_list<std::string_view> keys,
                     const std::string& what) {
  for (std::string_view key : keys)
    if (!r.contains(key)) return fail(what, ": the report has no numeric \"", key, "\"");
  return {};
}

// A child's report and its peak RSS.
struct measured {
  report values;
  double peak_rss_mib = 0;
  double cpu_s = 0;         // the command's own CPU time
  double broker_cpu_s = 0;  // this process's meanwhile: the development cluster's brokers
  // A key measure() was asked to require.
  double operator[](std::string_view key) const { return values.find(key)->second; }
};

// CPU time of this process, user + system, all threads (while a child runs: the brokers of the
// development cluster it hosts; the main thread only waits).
double own_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(detail::cpu_us(u)) / 1e6;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("model name"))
      return line.substr(std::min(line.size(), line.find(':') + 2));
  return "unknown";
}

class bench {
 public:
  bench(const bench_options& o, fs::path scratch, std::string self)
      : options_(o), sizes_(o.quick ? quick_sizes : full_sizes), scratch_(std::move(scratch)),
        self_(std::move(self)) {}

  result<void> offline();
  result<void> kafka();
  void print_table() const;
  std::string json() const;

 private:
  // Runs one child (detail/child_process.h); `name` names its log. Errors: it could not run or
  // exited with a non-zero status (the message ends with the end of its log).
  result<detail::child_exit> run(const std::string& name, const std::vector<std::string>& argv,
                                 seconds limit);
  // run() with `--report FILE` appended, and reads the report. Errors: as run(), or a key of
  // `required` is missing from the report.
  result<measured> measure(const std::string& name, std::vector<std::string> argv,
                           std::initializer_list<std::string_view> required, seconds limit);
  result<void> produce(const std::string& topic, const fs::path& file, const std::string& key_field);
  result<void> check_topic(const std::string& topic, int64_t expected);
  // Records ever written to `topic`: its high watermarks added up (retention does not lower
  // them). With `complete`, also that no partition dropped any (low watermark 0).
  result<int64_t> records_written(const std::string& topic, bool complete = false);
  result<void> pipe_run(int run);
  result<void> end_to_end_run(int run);
  void add(const char* key, double value) { samples_[key].push_back(value); }

  const bench_options& options_;
  const sizes sizes_;
  const fs::path scratch_;
  const std::string self_;
  std::unique_ptr<kafka::dev_cluster> cluster_;
  std::unique_ptr<kafka::consumer> probe_;  // watermark queries only
  fs::path kafka_workload_;
  std::map<std::string, std::vector<double>, std::less<>> samples_;
};

result<detail::child_exit> bench::run(const std::string& name,
                                      const std::vector<std::string>& argv, seconds limit) {
  const fs::path log = scratch_ / (name + ".log");
  auto exit = detail::run_measured(self_, argv, log, limit);
  if (!exit) return std::unexpected(exit.error());
  if (exit->status != 0)
    return fail(name, ": exit status ", std::to_string(exit->status), "; its log ends:\n",
                detail::tail_of(log, 15));
  return exit;
}

result<measured> bench::measure(const std::string& name, std::vector<std::string> argv,
                                std::initializer_list<std::string_view> required, seconds limit) {
  const fs::path report_file = scratch_ / (name + ".json");
  argv.push_back("--report");
  argv.push_back(report_file.string());
  const double before = own_cpu_s();
  auto exit = run(name, argv, limit);
  if (!exit) return std::unexpected(exit.error());
  const double broker_cpu_s = own_cpu_s() - before;
  auto r = read_report(report_file);
  if (!r)
    return fail(name, ": ", r.error().message, "; its log ends:\n",
                detail::tail_of(scratch_ / (name + ".log"), 15));
  if (auto k = require(*r, required, name); !k) return std::unexpected(k.error());
  return measured{std::move(*r), exit->peak_rss_mib, exit->cpu_s, broker_cpu_s};
}

result<void> bench::offline() {
  const fs::path workload_dir = scratch_ / "offline-workload";
  const auto w = workload_of(sizes_.offline_events, options_.hours);
  if (auto c = workload::write(w, workload_dir); !c) return std::unexpected(c.error());
  for (int run = 1; run <= options_.runs; ++run) {
    for (const std::string state : {"memory", "rocksdb"}) {
      const std::string name = "offline-" + state + "-" + std::to_string(run);
      const fs::path out = scratch_ / name;
      auto m = measure(name,
                       {self_, "bench", "offline", "--workload", workload_dir.string(), "--state",
                        state, "--scratch", out.string()},
                       {"records", "accepted", "events_per_s"}, seconds(900));
      if (!m) return std::unexpected(m.error());
      if ((*m)["records"] != static_cast<double>(w.events))
        return fail(name, ": rated ", format((*m)["records"], 0), " of ",
                    format(static_cast<double>(w.events), 0), " events");
      const bool memory = state == "memory";
      add(memory ? "offline_memory_eps" : "offline_rocksdb_eps", (*m)["events_per_s"]);
      add(memory ? "offline_memory_peak_rss_mb" : "offline_rocksdb_peak_rss_mb", m->peak_rss_mib);
      if (!memory) {
        auto bytes = dir_bytes(out / "state");
        if (!bytes) return std::unexpected(bytes.error());
        add("state_bytes_per_event", static_cast<double>(*bytes) / (*m)["accepted"]);
      }
      std::fprintf(stderr, "bench: %s: %s events/s, peak RSS %s MiB\n", name.c_str(),
                   format((*m)["events_per_s"], 0).c_str(), format(m->peak_rss_mib, 1).c_str());
      std::error_code ec;
      fs::remove_all(out, ec);
    }
  }
  return {};
}

result<void> bench::produce(const std::string& topic, const fs::path& file,
                            const std::string& key_field) {
  auto exit = run("produce-" + topic,
                  {self_, "produce", "--bootstrap", cluster_->bootstraps(), "--topic", topic,
                   "--key-field", key_field, "--partitions-from-topic", file.string()},
                  seconds(600));
  if (!exit) return std::unexpected(exit.error());
  return {};
}

// Every record produced to `topic` is still there: no partition lost records to retention
// (low watermark 0) and the high watermarks add up to `expected`.
result<void> bench::check_topic(const std::string& topic, int64_t expected) {
  auto total = records_written(topic, true);
  if (!total) return std::unexpected(total.error());
  if (*total != expected)
    return fail(topic, " holds ", std::to_string(*total), " records, expected ", std::to_string(expected));
  return {};
}

result<int64_t> bench::records_written(const std::string& topic, bool complete) {
  int64_t total = 0;
  for (int p = 0; p < sizes_.partitions; ++p) {
    auto wm = probe_->query_watermarks({topic, kafka::partition_id{p}}, kafka::millis(30'000));
    if (!wm) return fail(topic, ": ", wm.error().message);
    if (complete && wm->low.value != 0)
      return fail(topic, "[", std::to_string(p), "] dropped its first ", std::to_string(wm->low.value),
                  " records (the development cluster keeps ~5 MiB per partition): use more partitions");
    total += wm->high.value;
  }
  return total;
}

result<void> bench::pipe_run(int run) {
  const std::string name = "pipe-" + std::to_string(run), output = "pipe-out-" + std::to_string(run);
  if (auto r = cluster_->create_topic(output, sizes_.partitions); !r) return r;
  auto m = measure(name,
                   {self_, "bench", "pipe", "--bootstrap", cluster_->bootstraps(), "--input",
                    "meter-events", "--output", output},
                   {"records", "delivered", "events_per_s"}, seconds(600));
  if (!m) return std::unexpected(m.error());
  const auto expected = static_cast<double>(sizes_.kafka_events);
  if ((*m)["records"] != expected || (*m)["delivered"] != expected)
    return fail(name, ": consumed ", format((*m)["records"], 0), " and delivered ",
                format((*m)["delivered"], 0), " of ", format(expected, 0), " records");
  if (auto c = check_topic(output, sizes_.kafka_events); !c) return c;
  add("ceiling_eps", (*m)["events_per_s"]);
  add("ceiling_peak_rss_mb", m->peak_rss_mib);
  add("ceiling_cpu_us_per_event", (m->cpu_s + m->broker_cpu_s) * 1e6 / expected);
  std::fprintf(stderr, "bench: %s: %s events/s, peak RSS %s MiB\n", name.c_str(),
               format((*m)["events_per_s"], 0).c_str(), format(m->peak_rss_mib, 1).c_str());
  return {};
}

result<void> bench::end_to_end_run(int run) {
  const std::string name = "run-" + std::to_string(run), app = "bench-" + std::to_string(run);
  // The run's own changelog (co-partitioned, as the runtime requires) and output topics (as
  // wide), so that what it wrote is what they hold.
  const std::string changelog = app + "-state-changelog";
  const std::map<std::string, std::string> outputs = {{"charges.topic", app + "-rated-charges"},
                                                      {"adjustments.topic", app + "-charge-adjustments"},
                                                      {"alerts.topic", app + "-usage-alerts"},
                                                      {"dlq.topic", app + "-dlq"}};
  if (auto r = cluster_->create_topic(changelog, sizes_.partitions); !r) return r;
  for (const auto& [property, topic] : outputs)
    if (auto r = cluster_->create_topic(topic, sizes_.partitions); !r) return r;
  const fs::path config = scratch_ / (name + ".properties");
  {
    std::ofstream out(config);
    for (const auto& [property, topic] : outputs) out << property << '=' << topic << '\n';
    out << "application.id=" << app << "\nbootstrap.servers=" << cluster_->bootstraps()
        << "\nstate.dir=" << (scratch_ / (name + "-state")).string()
        << "\ncatalog=" << (kafka_workload_ / "catalog.json").string()
        // One stream thread per core, as an operator would run it on this machine.
        << "\nnum.stream.threads=" << std::max(1u, std::thread::hardware_concurrency()) << "\n";
    if (!out.flush()) return fail(config.string(), ": cannot write");
  }
  auto m = measure(name, {self_, "run", "--config", config.string(), "--until-caught-up"},
                   {"records", "elapsed_s", "commit_p50_ms", "commit_p99_ms"}, seconds(900));
  if (!m) return std::unexpected(m.error());
  const auto expected = static_cast<double>(sizes_.kafka_events);
  if ((*m)["records"] < expected)
    return fail(name, ": processed ", format((*m)["records"], 0), " of ", format(expected, 0), " records");
  if ((*m)["elapsed_s"] <= 0) return fail(name, ": the report has no elapsed time");
  // More is not an error: after a group rebalance during the run the new owner of a partition
  // reads it again from the last commit. The run counts every record its tasks are handed, so
  // records delivered again count twice, whether processed again (after the last commit) or
  // recognised and skipped (before the task's own position). Throughput counts each input
  // record once.
  if ((*m)["records"] > expected)
    std::fprintf(stderr, "bench: %s: %s records delivered a second time after a rebalance\n",
                 name.c_str(), format((*m)["records"] - expected, 0).c_str());
  // What the run wrote, per input record: the cost the broker carries beside the pipe's one.
  int64_t output_records = 0;
  for (const auto& [property, topic] : outputs) {
    auto n = records_written(topic);
    if (!n) return std::unexpected(n.error());
    output_records += *n;
  }
  auto changelog_records = records_written(changelog);
  if (!changelog_records) return std::unexpected(changelog_records.error());
  add("changelog_records_per_event", static_cast<double>(*changelog_records) / expected);
  add("output_records_per_event", static_cast<double>(output_records) / expected);
  add("end_to_end_cpu_us_per_event", (m->cpu_s + m->broker_cpu_s) * 1e6 / expected);
  const double eps = expected / (*m)["elapsed_s"];
  add("end_to_end_eps", eps);
  add("commit_p50_ms", (*m)["commit_p50_ms"]);
  add("commit_p99_ms", (*m)["commit_p99_ms"]);
  add("peak_rss_mb", m->peak_rss_mib);
  add("ratio", eps / samples_["ceiling_eps"].back());
  std::fprintf(stderr, "bench: %s: %s events/s, commit p50 %s ms, p99 %s ms, peak RSS %s MiB\n",
               name.c_str(), format(eps, 0).c_str(), format((*m)["commit_p50_ms"], 2).c_str(),
               format((*m)["commit_p99_ms"], 2).c_str(), format(m->peak_rss_mib, 1).c_str());
  return {};
}

result<void> bench::kafka() {
  kafka_workload_ = scratch_ / "kafka-workload";
  if (auto c = workload::write(workload_of(sizes_.kafka_events, options_.hours), kafka_workload_); !c)
    return std::unexpected(c.error());
  auto cluster = kafka::dev_cluster::create(1);
  if (!cluster) return std::unexpected(cluster.error());
  cluster_ = std::move(*cluster);
  // Co-partitioned input and subscriptions (the runtime checks it); each run adds its own topics.
  for (const char* topic : {"meter-events", "subscriptions"})
    if (auto r = cluster_->create_topic(topic, sizes_.partitions); !r) return r;
  kafka::consumer_options co;
  co.bootstrap = cluster_->bootstraps();
  co.group_id = "meterflow-bench-probe";
  auto probe = kafka::consumer::create(co);
  if (!probe) return std::unexpected(probe.error());
  probe_ = std::move(*probe);

  if (auto r = produce("meter-events", kafka_workload_ / "events.jsonl", "subject"); !r) return r;
  if (auto r = produce("subscriptions", kafka_workload_ / "subscriptions.jsonl", "tenant"); !r) return r;
  if (auto r = check_topic("meter-events", sizes_.kafka_events); !r) return r;
  for (int run = 1; run <= options_.runs; ++run) {
    if (auto r = pipe_run(run); !r) return r;
    if (auto r = end_to_end_run(run); !r) return r;
  }
  return check_topic("meter-events", sizes_.kafka_events);
}

void bench::print_table() const {
  const auto w = workload_of(sizes_.offline_events, options_.hours);
  std::printf("meterflow bench%s: %u cores, %s; median, min and max of %d runs\n",
              options_.quick ? " --quick" : "", std::thread::hardware_concurrency(),
              cpu_model().c_str(), options_.runs);
  std::printf("offline: %s events, %s tenants over %lld h of event time, 1 %% duplicates, 0.5 %% late\n",
              format(static_cast<double>(w.events), 0).c_str(),
              format(static_cast<double>(w.tenants), 0).c_str(), static_cast<long long>(w.hours));
  std::printf("kafka: %s events of the same kind in %d partitions, development cluster (1 broker); "
              "meterflow run with num.stream.threads=%u\n\n",
              format(static_cast<double>(sizes_.kafka_events), 0).c_str(), sizes_.partitions,
              std::max(1u, std::thread::hardware_concurrency()));
  std::printf("| figure | median | min | max |\n| --- | ---: | ---: | ---: |\n");
  for (const figure& f : figures) {
    const spread s = spread_of(samples_.at(f.key));
    std::printf("| %s | %s | %s | %s |\n", f.label, format(s.median, f.decimals).c_str(),
                format(s.min, f.decimals).c_str(), format(s.max, f.decimals).c_str());
  }
}

std::string bench::json() const {
  std::string out;
  json_writer w(out);
  w.begin_object().member("mode", options_.quick ? "quick" : "full").member("runs", int64_t{options_.runs});
  w.key("machine").begin_object()
      .member("cores", int64_t{std::thread::hardware_concurrency()})
      .member("cpu", cpu_model())
      .end_object();
  const auto wl = workload_of(sizes_.offline_events, options_.hours);
  w.key("workload").begin_object()
      .member("offline_events", sizes_.offline_events)
      .member("kafka_events", sizes_.kafka_events)
      .member("tenants", wl.tenants)
      .member("hours", wl.hours)
      .member("duplicates_bp", wl.dup_bp)
      .member("late_bp", wl.late_bp)
      .member("partitions", int64_t{sizes_.partitions})
      .end_object();
  for (const figure& f : figures) {
    const auto& values = samples_.at(f.key);
    const spread s = spread_of(values);
    w.key(f.key).begin_object();
    w.key("median").raw(json_number(s.median, f.decimals));
    w.key("min").raw(json_number(s.min, f.decimals));
    w.key("max").raw(json_number(s.max, f.decimals));
    w.key("runs").begin_array();
    for (double v : values) w.raw(json_number(v, f.decimals));
    w.end_array().end_object();
  }
  w.end_object();
  return out + "\n";
}

}  // namespace

int run_bench(const bench_options& o) {
  auto error = [](const std::string& message) {
    std::fprintf(stderr, "meterflow bench: %s\n", message.c_str());
    return 1;
  };
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return error("cannot find the meterflow binary: " + ec.message());
  const fs::path scratch = (o.tmp_dir.empty() ? fs::temp_directory_path() : fs::path(o.tmp_dir)) /
                           ("meterflow-bench-" + std::to_string(getpid()));
  fs::remove_all(scratch, ec);
  fs::create_directories(scratch, ec);
  if (ec) return error(scratch.string() + ": " + ec.message());
  struct remove_at_exit {
    fs::path dir;
    ~remove_at_exit() {
      std::error_code e;
      if (!dir.empty()) fs::remove_all(dir, e);
    }
  } cleanup{o.keep ? fs::path() : scratch};
  if (o.keep) std::fprintf(stderr, "bench: keeping %s\n", scratch.c_str());

  const auto start = std::chrono::steady_clock::now();
  bench b(o, scratch, self.string());
  if (auto r = b.offline(); !r) return error(r.error().message);
  if (auto r = b.kafka(); !r) return error(r.error().message);
  b.print_table();
  std::printf("\nwall time %lld s\n", static_cast<long long>(std::chrono::duration_cast<seconds>(
                                          std::chrono::steady_clock::now() - start).count()));
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << b.json();
    if (!out.flush()) return error(o.json_path + ": cannot write");
  }
  return 0;
}

}  // namespace meterflow
