#include "processor/kafka/dev_cluster.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "processor/kafka/detail/tcp_forwarder.h"

namespace meterflow::kafka {

namespace {

struct api_key_name {
  std::string_view name;
  int16_t key;
};

// Kafka protocol ApiKeys, as named in the protocol guide.
constexpr api_key_name api_keys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"DeleteRecords", 21},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"WriteTxnMarkers", 27},
    {"TxnOffsetCommit", 28},
    {"DescribeAcls", 29},
    {"CreateAcls", 30},
    {"DeleteAcls", 31},
    {"DescribeConfigs", 32},
    {"AlterConfigs", 33},
    {"DescribeLogDirs", 35},
    {"SaslAuthenticate", 36},
    {"CreatePartitions", 37},
    {"DeleteGroups", 42},
    {"IncrementalAlterConfigs", 44},
    {"OffsetDelete", 47},
    {"DescribeCluster", 60},
    {"DescribeProducers", 61},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::ranges::equal(a, b, [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::ranges::all_of(
      name, [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

}  // namespace

result<int16_t> parse_api_key(std::string_view name) {
  int value = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (ec == std::errc() && end == name.data() + name.size()) {
    if (value < 0 || value > max_api_key)
      return fail("API key ", std::string(name), " is out of range");
    return static_cast<int16_t>(value);
  }
  if (name.size() > 7 && iequals(name.substr(name.size() - 7), "Request")) name.remove_suffix(7);
  for (const auto& k : api_keys)
    if (iequals(k.name, name)) return k.key;
  return fail("unknown API key \"", std::string(name),
              "\" (e.g. Produce, Fetch, Metadata, OffsetCommit, "
              "JoinGroup, Heartbeat, InitProducerId, EndTxn, or a number)");
}

result<std::unique_ptr<dev_cluster>> dev_cluster::create(int brokers) {
  if (brokers < 1 || brokers > 32)
    return fail("a development cluster has 1 to 32 brokers, not ", std::to_string(brokers));
  std::unique_ptr<dev_cluster> c(new dev_cluster());
  // The mock cluster needs a client handle for its bookkeeping; a bare producer that connects
  // nowhere (no bootstrap.servers; its "no bootstrap" notice is silenced) serves.
  auto conf = make_conf(properties{{"log_level", "3"}, {"client.id", "meterflow-dev-cluster"}});
  if (!conf) return std::unexpected(conf.error());
  char errstr[512] = "";
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (!rk) return fail("development cluster: cannot create its client handle: ", errstr);
  (void)conf->release();
  c->handle_.reset(rk);
  c->cluster_ = rd_kafka_mock_cluster_new(rk, brokers);
  if (!c->cluster_)
    return fail("development cluster: librdkafka could not start ", std::to_string(brokers),
                " mock brokers");
  c->brokers_ = brokers;
  return c;
}

dev_cluster::~dev_cluster() {
  forwarder_.reset();  // no new connections into brokers that are going away
  if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
  // handle_ goes last: the mock cluster was attached to it.
}

std::string dev_cluster::bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

result<std::string> dev_cluster::listen(uint16_t port) {
  if (forwarder_)
    return fail("the development cluster already listens on 127.0.0.1:",
                std::to_string(forwarder_->port()));
  // Every broker, in id order: a connection goes to broker 1, or the next one up.
  std::vector<detail::tcp_forwarder::target> targets;
  std::string list = bootstraps();
  for (size_t begin = 0; begin < list.size();) {
    size_t end = std::min(list.find(',', begin), list.size());
    std::string_view address(list.data() + begin, end - begin);
    auto colon = address.rfind(':');
    int broker_port = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(address.data() + colon + 1, address.data() + address.size(), broker_port)
                .ec != std::errc())
      return fail("development cluster: unexpected broker address ", std::string(address));
    targets.push_back({std::string(address.substr(0, colon)), static_cast<uint16_t>(broker_port)});
    begin = end + 1;
  }
  auto f = detail::tcp_forwarder::start(port, std::move(targets));
  if (!f) return std::unexpected(f.error());
  forwarder_ = std::move(*f);
  return "127.0.0.1:" + std::to_string(forwarder_->port());
}

result<void> dev_cluster::create_topic(const std::string& name, int partitions) {
  if (!valid_topic_name(name))
    return fail("invalid topic name \"", name, "\" (1-249 of a-z A-Z 0-9 . _ -)");
  if (partitions < 1 || partitions > 10000)
    return fail("topic ", name, ": a topic has 1 to 10000 partitions, not ",
                std::to_string(partitions));
  int replicas = std::min(3, brokers_);
  if (auto err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, replicas)) {
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      return fail("topic ", name, " already exists");
    return kafka_error("create topic " + name, err);
  }
  // One broker leads everything already; each set_leader is a round trip to the mock's thread
  // (~0.1-0.2 s here), which made topics of hundreds of partitions take minutes to create.
  for (int p = 0; brokers_ > 1 && p < partitions; ++p)
    if (auto r =
            check("create topic " + name + ": set the leader of partition " + std::to_string(p),
                  rd_kafka_mock_partition_set_leader(cluster_, name.c_str(), p, p % brokers_ + 1));
        !r)
      return r;
  return {};
}

result<void> dev_cluster::check_broker(int32_t id) const {
  if (id < 1 || id > brokers_)
    return fail("no broker ", std::to_string(id), " (brokers are 1 to ", std::to_string(brokers_),
                ")");
  return {};
}

result<void> dev_cluster::broker_down(int32_t id) {
  if (auto r = check_broker(id); !r) return r;
  return check("take broker " + std::to_string(id) + " down",
               rd_kafka_mock_broker_set_down(cluster_, id));
}

result<void> dev_cluster::broker_up(int32_t id) {
  if (auto r = check_broker(id); !r) return r;
  return check("bring broker " + std::to_string(id) + " up",
               rd_kafka_mock_broker_set_up(cluster_, id));
}

result<void> dev_cluster::set_coordinator(std::string_view type, const std::string& key,
                                          int32_t id) {
  if (type != "group" && type != "transaction")
    return fail("coordinator type \"", std::string(type), "\" is neither group nor transaction");
  if (auto r = check_broker(id); !r) return r;
  return check("make broker " + std::to_string(id) + " the coordinator of " + key,
               rd_kafka_mock_coordinator_set(cluster_, std::string(type).c_str(), key.c_str(), id));
}

result<void> dev_cluster::push_request_errors(int16_t api_key, size_t count,
                                              rd_kafka_resp_err_t err) {
  if (api_key < 0 || api_key > max_api_key)
    return fail("API key ", std::to_string(api_key), " is out of range");
  if (count == 0 || count > 1'000'000) return fail("error count must be 1 to 1000000");
  std::vector<rd_kafka_resp_err_t> errors(count, err);
  rd_kafka_mock_push_request_errors_array(cluster_, api_key, count, errors.data());
  return {};
}

void dev_cluster::clear_request_errors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(cluster_, api_key);
}

void dev_cluster::clear_all_request_errors() {
  for (int16_t key = 0; key <= max_api_key; ++key)
    rd_kafka_mock_clear_request_errors(cluster_, key);
}

}  // namespace meterflow::kafka
