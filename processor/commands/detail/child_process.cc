#include "processor/commands/detail/child_process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

extern char** environ;

namespace meterflow::detail {

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const std::string& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

int status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

// posix_spawn with stdin from /dev/null and stdout, stderr appended to `log`.
result<pid_t> spawn_logged(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  auto args = c_argv(argv);
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return fail(argv[0], ": cannot start: ", std::strerror(err));
  return pid;
}

}  // namespace

result<child_exit> run_measured(const std::string& self, const std::vector<std::string>& argv,
                                const std::filesystem::path& log, std::chrono::seconds limit) {
  std::filesystem::path rusage_file = log;
  rusage_file += ".rusage";
  std::vector<std::string> args = {self, "bench", "measure", "--rusage", rusage_file.string(), "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  auto pid = spawn_logged(args, log);
  if (!pid) return std::unexpected(pid.error());

  const auto deadline = std::chrono::steady_clock::now() + limit;
  int wait_status = 0;
  for (;;) {
    const pid_t done = waitpid(*pid, &wait_status, WNOHANG);
    if (done == *pid) break;
    if (done < 0 && errno != EINTR) return fail("waitpid: ", std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      kill(*pid, SIGKILL);  // the command gets SIGKILL too (its parent-death signal)
      waitpid(*pid, &wait_status, 0);
      return fail(argv[0], " ", argv.size() > 1 ? argv[1] : "", ": still running after ",
                  std::to_string(limit.count()), " s, killed (log: ", log.string(), ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (status_of(wait_status) != 0)
    return fail("meterflow bench measure exited with status ", std::to_string(status_of(wait_status)),
                " (log: ", log.string(), ")");
  std::ifstream in(rusage_file);
  child_exit e;
  int64_t max_rss_kib = 0, cpu_us = 0;
  if (!(in >> e.status >> max_rss_kib >> cpu_us)) return fail(rusage_file.string(), ": no result");
  e.peak_rss_mib = static_cast<double>(max_rss_kib) / 1024.0;
  e.cpu_s = static_cast<double>(cpu_us) / 1e6;
  return e;
}

int run_measure_command(const std::string& rusage_file, const std::vector<std::string>& argv) {
  // Die with the bench: it sends SIGKILL on a timeout, and a bench killed by Ctrl-C must not
  // leave its children running against a cluster that is gone.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 2;
  const pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "meterflow bench measure: fork: %s\n", std::strerror(errno));
    return 2;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto args = c_argv(argv);
    execv(args[0], args.data());
    std::fprintf(stderr, "meterflow bench measure: %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  int wait_status = 0;
  rusage usage{};
  while (wait4(pid, &wait_status, 0, &usage) < 0)
    if (errno != EINTR) return 2;
  std::ofstream out(rusage_file);
  out << status_of(wait_status) << ' ' << usage.ru_maxrss << ' ' << cpu_us(usage) << '\n';
  return out.flush() ? 0 : 2;
}

int64_t cpu_us(const rusage& usage) {
  auto us = [](const timeval& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000 + t.tv_usec; };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

std::string tail_of(const std::filesystem::path& file, int lines) {
  std::ifstream in(file);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string text;
  for (const std::string& l : last) text += "  | " + l + "\n";
  return text;
}

}  // namespace meterflow::detail
