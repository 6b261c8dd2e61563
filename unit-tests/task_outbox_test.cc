// task: the transactional outbox across a crash, against the development cluster (in process).
//
// A task that crashes after its commit reached the changelog but before its outputs left must
// publish them when it opens again: from its local store, or, with the store lost, from the
// changelog. Either way the records are the ones a task that never crashed publishes, byte for
// byte and in order (the outbox is stored in compressed chunks: outbox.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>

#include "processor/kafka/client.h"
#include "processor/kafka/dev_cluster.h"
#include "processor/runtime/run_options.h"
#include "processor/runtime/task.h"
#include "topology/subscriptions.h"

namespace meterflow {
namespace {

namespace fs = std::filesystem;
using kafka::millis;

const std::string example = std::string(METERFLOW_SOURCE_DIR) + "/examples/hosting/";
constexpr timestamp wall_clock{1'793'491'200'000};  // 2026-11-01T00:00:00Z: October is still open

std::vector<std::string> lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// Every record of every partition of `topic`: "key\tvalue", in partition and offset order.
std::vector<std::string> read_all(const std::string& bootstrap, const std::string& topic) {
  kafka::consumer_options co;
  co.bootstrap = bootstrap;
  co.group_id = "outbox-test-reader";
  co.settings.set("enable.partition.eof", "true");
  auto c = kafka::consumer::create(co);
  EXPECT_TRUE(c) << c.error().message;
  auto wm = (*c)->query_watermarks({topic, kafka::partition_id{0}}, millis(10'000));
  EXPECT_TRUE(wm) << wm.error().message;
  std::vector<std::string> out;
  if (wm->high.value == 0) return out;
  const kafka::topic_partition_offset at[] = {{topic, kafka::partition_id{0}, kafka::kafka_offset{0}}};
  EXPECT_TRUE((*c)->assign(at));
  for (int polls = 0; static_cast<int64_t>(out.size()) < wm->high.value && polls < 200; ++polls) {
    auto m = (*c)->poll(millis(100));
    EXPECT_TRUE(m);
    if (!m || !*m || (*m)->is_partition_eof()) continue;
    out.push_back(std::string((*m)->key().value_or("")) + "\t" + std::string((*m)->value().value_or("")));
  }
  return out;
}

class TaskOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = kafka::dev_cluster::create(1);
    ASSERT_TRUE(c) << c.error().message;
    cluster_ = std::move(*c);
    auto p = kafka::producer::create({.bootstrap = cluster_->bootstraps()});
    ASSERT_TRUE(p) << p.error().message;
    producer_ = std::move(*p);
    state_dir_ = fs::temp_directory_path() / ("meterflow-outbox-test-" + std::to_string(::getpid()));
    fs::remove_all(state_dir_);
    auto cat = catalog::load_file(example + "catalog.json");
    ASSERT_TRUE(cat) << cat.error().message;
    catalog_ = std::make_shared<const catalog>(std::move(*cat));
    for (const std::string& l : lines(example + "subscriptions.jsonl")) {
      auto s = parse_subscription(l);
      ASSERT_TRUE(s) << s.error().message;
      subscriptions_.push_back(std::move(*s));
    }
    events_ = lines(example + "events.jsonl");
    events_.push_back("not json at all");  // a dead letter among the outputs
  }
  void TearDown() override { fs::remove_all(state_dir_); }

  // Options of application `app`, whose output topics are named after it; creates its topics.
  run_options options_for(const std::string& app) {
    run_options o;
    o.application_id = app;
    o.state_dir = state_dir_.string();
    o.charges_topic = app + "-charges";
    o.adjustments_topic = app + "-adjustments";
    o.alerts_topic = app + "-alerts";
    o.dlq_topic = app + "-dlq";
    for (const std::string& t : {o.changelog_topic(), o.charges_topic, o.adjustments_topic, o.alerts_topic, o.dlq_topic})
      EXPECT_TRUE(cluster_->create_topic(t, 1));
    return o;
  }
  task_env env_for(const run_options& o) {
    return {.options = &o, .producer = producer_.get(), .bootstrap = cluster_->bootstraps(),
            .log = [this](const std::string& line) { log_.push_back(line); }};
  }
  std::map<std::string, std::vector<std::string>> outputs(const run_options& o) {
    std::map<std::string, std::vector<std::string>> m;
    for (const std::string& t : {o.charges_topic, o.adjustments_topic, o.alerts_topic, o.dlq_topic})
      m[t.substr(t.rfind('-') + 1)] = read_all(cluster_->bootstraps(), t);
    return m;
  }
  // Processes every event, then commits up to the changelog's acknowledgement; with `publish`
  // the commit also completes (outputs, published-marks).
  // Only events [from, to) when given.
  void process_and_commit(task& t, bool publish, size_t from = 0, size_t to = SIZE_MAX) {
    to = std::min(to, events_.size());
    for (size_t i = from; i < to; ++i) t.process(events_[i], static_cast<int64_t>(i), wall_clock);
    kafka::delivery_tracker changelog, outs;
    ASSERT_TRUE(t.prepare_commit());
    ASSERT_TRUE(t.produce_changelog(&changelog));
    ASSERT_TRUE(producer_->flush(millis(10'000)));
    auto ok = t.changelog_acknowledged(changelog);
    ASSERT_TRUE(ok && *ok);
    if (!publish) return;
    ASSERT_TRUE(t.produce_outputs(&outs));
    ASSERT_TRUE(producer_->flush(millis(10'000)));
    ASSERT_TRUE(t.mark_published());
    ASSERT_TRUE(t.produce_marks());
    ASSERT_TRUE(producer_->flush(millis(10'000)));
  }

  std::unique_ptr<kafka::dev_cluster> cluster_;
  std::unique_ptr<kafka::producer> producer_;
  fs::path state_dir_;
  std::shared_ptr<const catalog> catalog_;
  std::vector<subscription_record> subscriptions_;
  std::vector<std::string> events_;
  std::vector<std::string> log_;
};

TEST_F(TaskOutboxTest, ACrashBeforeTheOutputsLeftRepublishesThemFromStoreOrChangelog) {
  // What a task that never crashes publishes.
  const run_options ref = options_for("ref");
  const task_env ref_env = env_for(ref);
  {
    auto t = task::open(ref_env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
    process_and_commit(**t, true);
  }
  const auto expected = outputs(ref);
  size_t total = 0;
  for (const auto& [kind, records] : expected) total += records.size();
  ASSERT_GT(expected.at("charges").size(), 0u);
  ASSERT_GE(expected.at("dlq").size(), 1u);

  // The crash: the commit is on the changelog, no output has left.
  const run_options crash = options_for("crash");
  const task_env crash_env = env_for(crash);
  {
    auto t = task::open(crash_env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
    process_and_commit(**t, false);
  }
  for (const auto& [kind, records] : outputs(crash)) EXPECT_TRUE(records.empty()) << kind;

  // Opening again on the same store publishes the outbox: exactly the reference records.
  log_.clear();
  {
    auto t = task::open(crash_env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
  }
  EXPECT_EQ(outputs(crash), expected);
  const std::string republished = "task 0: republishing " + std::to_string(total) + " records left in the outbox";
  EXPECT_EQ(std::ranges::count(log_, republished), 1) << testing::PrintToString(log_);

  // The store lost too (another instance takes the task over): restored from the changelog. The
  // published-marks of the reopening above never reached the changelog (they travel with the
  // next commit), so the records go out once more: the same bytes again, which consumers that
  // apply each id once (SPEC: at-least-once delivery) drop.
  fs::remove_all(task_directory(crash, 0));
  {
    auto t = task::open(crash_env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ((*t)->restored().kind, "full");
  }
  for (const auto& [kind, records] : outputs(crash)) {
    std::vector<std::string> twice = expected.at(kind);
    twice.insert(twice.end(), expected.at(kind).begin(), expected.at(kind).end());
    EXPECT_EQ(records, twice) << kind;
  }
}

// Task stores have no write-ahead log (task.cc): a crash loses what sat in the memtables, and the
// store comes back holding an earlier state. Simulated here by putting back a copy of the store
// taken between two commits. Opening the task must replay the changelog from the old store's
// position: if it did not, the second half of the events would be accepted (and billed) again.
// Records handed to a task in one call: those before its position (fetched again after a
// rebalance) are skipped, every other one applied once, and offsets jumped over are counted.
TEST_F(TaskOutboxTest, ARunOfRecordsSkipsWhatWasProcessedAndCountsGaps) {
  const run_options o = options_for("runs");
  auto t = task::open(env_for(o), 0, catalog_, subscriptions_);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_GE(events_.size(), 8u);
  const auto applied = [&] {
    const engine_counters& c = (*t)->counters();
    int64_t n = c.accepted + c.duplicates;
    for (int64_t d : c.dead_letters) n += d;
    return n;
  };
  std::vector<task::input_record> first = {{events_[0], 0}, {events_[1], 1}, {events_[2], 2}};
  EXPECT_EQ((*t)->process(first, wall_clock), 0);
  EXPECT_EQ(applied(), 3);
  // 1 and 2 again, then 3, then 5 and 6: offset 4 was never received.
  std::vector<task::input_record> second = {{events_[1], 1}, {events_[2], 2}, {events_[3], 3},
                                            {events_[5], 5}, {events_[6], 6}};
  EXPECT_EQ((*t)->process(second, wall_clock), 1);
  EXPECT_EQ(applied(), 6);
  // Nothing new: nothing applied, nothing jumped over.
  std::vector<task::input_record> again = {{events_[5], 5}, {events_[6], 6}};
  EXPECT_EQ((*t)->process(again, wall_clock), 0);
  EXPECT_EQ(applied(), 6);
  EXPECT_EQ((*t)->process(events_[7], 7, wall_clock), 0);
  EXPECT_EQ(applied(), 7);
}

TEST_F(TaskOutboxTest, AStoreThatLostItsLatestCommitsCatchesUpFromTheChangelog) {
  const run_options o = options_for("stale");
  const task_env env = env_for(o);
  const size_t half = events_.size() / 2;
  const fs::path dir = task_directory(o, 0);
  const fs::path saved = state_dir_ / "saved-store";
  engine_counters first_half;
  {
    auto t = task::open(env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
    process_and_commit(**t, true, 0, half);
    first_half = (*t)->counters();
  }
  fs::copy(dir, saved, fs::copy_options::recursive);
  engine_counters complete;
  {
    auto t = task::open(env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
    process_and_commit(**t, true, half);
    complete = (*t)->counters();
    EXPECT_EQ((*t)->next_offset().value, static_cast<int64_t>(events_.size()));
  }
  ASSERT_GT(complete.accepted, 0);
  const auto published = outputs(o);

  fs::remove_all(dir);
  fs::rename(saved, dir);
  {
    auto t = task::open(env, 0, catalog_, subscriptions_);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ((*t)->restored().kind, "incremental");
    EXPECT_EQ((*t)->counters().accepted, complete.accepted);
    EXPECT_EQ((*t)->counters().duplicates, complete.duplicates);
    EXPECT_EQ((*t)->next_offset().value, static_cast<int64_t>(events_.size()));
    // The second half's events again: each one accepted or dropped as a duplicate the first
    // time is a duplicate now.
    const int64_t again = (complete.accepted - first_half.accepted) +
                          (complete.duplicates - first_half.duplicates);
    ASSERT_GT(again, 0);
    for (size_t i = half; i < events_.size(); ++i)
      (*t)->process(events_[i], static_cast<int64_t>(events_.size() + i), wall_clock);
    EXPECT_EQ((*t)->counters().accepted, complete.accepted);
    EXPECT_EQ((*t)->counters().duplicates, complete.duplicates + again);
  }
  // Nothing published twice: the published-marks were on the changelog too.
  EXPECT_EQ(outputs(o), published);
}

}  // namespace
}  // namespace meterflow
