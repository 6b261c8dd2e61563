#include "processor/commands/dev_cluster.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "processor/kafka/dev_cluster.h"

namespace meterflow {

const char* const dev_cluster_help = R"(
Prints the bootstrap address as the FIRST line of stdout, then serves until stdin ends, `quit`,
SIGTERM or SIGINT. Commands on stdin, one per line, each answered on stdout by one line, `ok`
or `error: <why>`:
  down N                          disconnect broker N and refuse connections to it
  up N                            accept connections to broker N again
  topic NAME:PARTITIONS           create a topic (leaders round-robin over the brokers)
  coordinator group|transaction KEY N
                                  broker N coordinates consumer group / transactional id KEY
                                  (default: the broker KEY hashes to)
  errors API_KEY COUNT ERROR      the next COUNT requests of that type fail with ERROR,
                                  e.g. `errors Produce 3 NOT_LEADER_OR_FOLLOWER`
                                  (ERROR: librdkafka's names, e.g. _TRANSPORT drops the connection)
  clear                           forget every injected request error
  quit                            stop
Limits (librdkafka 2.0.2's mock cluster, in memory): each partition keeps at most ~5 MiB or
100,000 records (older ones are deleted); no compaction and no topic configs; no CreateTopics
(create topics here); transactional offsets are not stored and read_committed consumers see
aborted records, so exactly-once cannot be proven on it; a consumer group join takes 3-5 s with
session.timeout.ms=6000. Taking a broker down moves no leaders: its partitions wait for it.
)";

namespace {

struct topic_spec {
  std::string name;
  int partitions = 0;
};

result<topic_spec> parse_topic_spec(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail("topic \"", std::string(text), "\" is not NAME:PARTITIONS");
  topic_spec spec{std::string(text.substr(0, colon)), 0};
  auto digits = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), spec.partitions);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
    return fail("topic \"", std::string(text), "\": \"", std::string(digits),
                "\" is not a partition count");
  return spec;
}

result<int> parse_int(std::string_view text, std::string_view what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return fail(std::string(what), " \"", std::string(text), "\" is not a number");
  return value;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

constexpr std::string_view usage =
    "commands: down N, up N, topic NAME:PARTITIONS, coordinator group|transaction KEY N, "
    "errors API_KEY COUNT ERROR, clear, quit";

// Runs one command line. Returns the answer, or "" for a line that is not a command.
std::string execute(kafka::dev_cluster& cluster, std::string_view line, bool& quit) {
  auto words = split(line);
  if (words.empty() || words[0].starts_with('#')) return {};
  auto answer = [](const result<void>& r) {
    return r ? std::string("ok") : "error: " + r.error().message;
  };
  auto arity = [&](size_t n) -> result<void> {
    if (words.size() != n + 1)
      return fail("\"", std::string(words[0]), "\" takes ", std::to_string(n), " argument(s); ",
                  std::string(usage));
    return {};
  };
  std::string_view cmd = words[0];
  if (cmd == "quit" || cmd == "exit") {
    quit = true;
    return "ok";
  }
  if (cmd == "down" || cmd == "up") {
    if (auto r = arity(1); !r) return answer(r);
    auto id = parse_int(words[1], "broker");
    if (!id) return answer(std::unexpected(id.error()));
    return answer(cmd == "down" ? cluster.broker_down(*id) : cluster.broker_up(*id));
  }
  if (cmd == "topic") {
    if (auto r = arity(1); !r) return answer(r);
    auto spec = parse_topic_spec(words[1]);
    if (!spec) return answer(std::unexpected(spec.error()));
    return answer(cluster.create_topic(spec->name, spec->partitions));
  }
  if (cmd == "coordinator") {
    if (auto r = arity(3); !r) return answer(r);
    auto id = parse_int(words[3], "broker");
    if (!id) return answer(std::unexpected(id.error()));
    return answer(cluster.set_coordinator(words[1], std::string(words[2]), *id));
  }
  if (cmd == "errors") {
    if (auto r = arity(3); !r) return answer(r);
    auto key = kafka::parse_api_key(words[1]);
    if (!key) return answer(std::unexpected(key.error()));
    auto count = parse_int(words[2], "count");
    if (!count) return answer(std::unexpected(count.error()));
    if (*count < 1) return answer(fail("count must be at least 1"));
    auto err = kafka::parse_error_name(words[3]);
    if (!err) return answer(std::unexpected(err.error()));
    return answer(cluster.push_request_errors(*key, static_cast<size_t>(*count), *err));
  }
  if (cmd == "clear") {
    if (auto r = arity(0); !r) return answer(r);
    cluster.clear_all_request_errors();
    return "ok";
  }
  return answer(fail("unknown command \"", std::string(cmd), "\"; ", std::string(usage)));
}

result<void> write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return fail("cannot write ", tmp, ": ", std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return fail("cannot write ", path, ": ", ec.message());
  }
  return {};
}

// Restores the signal mask and closes the signalfd however run_dev_cluster returns.
struct signal_guard {
  sigset_t old;
  int fd = -1;
  ~signal_guard() {
    if (fd >= 0) ::close(fd);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
};

}  // namespace

int run_dev_cluster(const dev_cluster_options& o) {
  auto error = [](const std::string& message) {
    std::fprintf(stderr, "meterflow dev-cluster: %s\n", message.c_str());
    return 2;
  };
  if (o.port < 0 || o.port > 65535) return error("--port must be 0 to 65535");

  // SIGINT/SIGTERM are blocked before any thread exists (the mock's and the forwarder's threads
  // inherit the mask), so they are only ever received through the signalfd polled below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  signal_guard guard;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &guard.old);
  guard.fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (guard.fd < 0) return error(std::string("signalfd: ") + std::strerror(errno));
  std::signal(SIGPIPE, SIG_IGN);  // a reader of stdout that went away is not a reason to die

  std::vector<topic_spec> topics;
  for (const auto& t : o.topics) {
    auto spec = parse_topic_spec(t);
    if (!spec) return error(spec.error().message);
    topics.push_back(*spec);
  }
  auto cluster = kafka::dev_cluster::create(o.brokers);
  if (!cluster) return error(cluster.error().message);
  for (const auto& t : topics)
    if (auto r = (*cluster)->create_topic(t.name, t.partitions); !r)
      return error(r.error().message);

  std::string bootstrap = (*cluster)->bootstraps();
  if (o.port != 0) {
    auto address = (*cluster)->listen(static_cast<uint16_t>(o.port));
    if (!address) return error(address.error().message);
    bootstrap = *address;
  }
  if (!o.bootstrap_file.empty())
    if (auto r = write_file_atomically(o.bootstrap_file, bootstrap + "\n"); !r)
      return error(r.error().message);

  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);
  std::string topic_list;
  for (const auto& t : topics)
    topic_list += (topic_list.empty() ? "" : ", ") + t.name + ":" + std::to_string(t.partitions);
  std::fprintf(stderr, "meterflow dev-cluster: %d broker(s) at %s%s%s; %s\n", o.brokers,
               (*cluster)->bootstraps().c_str(), topic_list.empty() ? "" : "; topics ",
               topic_list.c_str(),
               o.ignore_stdin ? "stop with SIGTERM or SIGINT"
                              : "commands on stdin (quit or end of input stops)");

  std::string pending;
  bool quit = false;
  while (!quit) {
    pollfd fds[2] = {{guard.fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    int n = ::poll(fds, o.ignore_stdin ? 1 : 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return error(std::string("poll: ") + std::strerror(errno));
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      ssize_t got = ::read(guard.fd, &info, sizeof info);
      std::fprintf(stderr, "meterflow dev-cluster: stopping on %s\n",
                   got == sizeof info ? strsignal(static_cast<int>(info.ssi_signo)) : "a signal");
      break;
    }
    if (o.ignore_stdin || fds[1].revents == 0) continue;
    char buf[4096];
    ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    bool eof = got <= 0;
    if (got > 0) pending.append(buf, static_cast<size_t>(got));
    if (eof && !pending.empty()) pending += '\n';  // a last command without a newline
    size_t start = 0;
    for (size_t nl; !quit && (nl = pending.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      std::string answer =
          execute(**cluster, std::string_view(pending).substr(start, nl - start), quit);
      if (answer.empty()) continue;
      std::printf("%s\n", answer.c_str());
      std::fflush(stdout);
    }
    pending.erase(0, start);
    if (eof) break;
  }

  if (!o.bootstrap_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(o.bootstrap_file, ec);  // a stale address would mislead; best effort
  }
  cluster->reset();
  return 0;
}

}  // namespace meterflow
