// Child processes for `meterflow bench`: run a command, wait for it with a time limit, and learn
// its exit status, its own peak resident memory and its CPU time.
//
// Why through an intermediary: Linux charges a child's ru_maxrss (wait4) with the high-water RSS
// of the process it was forked from (exec keeps the larger of the old and the new address
// space's peak). The bench process holds the development cluster, hundreds of MiB, so a child
// spawned from it directly would report at least that. run_measured() therefore starts
// `meterflow bench measure`, a fresh small process, which forks the command and reports the
// command's wait4 rusage: the command's peak plus at most the intermediary's few MiB.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"

namespace meterflow::detail {

struct child_exit {
  // The command's exit status; 128 + the signal number if a signal ended it.
  int status = 0;
  // Peak resident set size of the command (wait4's ru_maxrss), MiB.
  double peak_rss_mib = 0;
  // CPU time of the command, user + system, all its threads (wait4's ru_utime + ru_stime), s.
  double cpu_s = 0;
};

// Runs `argv` (argv[0] a path) through `meterflow bench measure` (`self`: the meterflow binary),
// stdin from /dev/null, stdout and stderr appended to `log`. Waits at most `limit`, then kills
// the command. Errors: it could not be started, it ran out of time, or the intermediary failed.
// A non-zero exit status is not an error here: the caller decides, with the log.
result<child_exit> run_measured(const std::string& self, const std::vector<std::string>& argv,
                                const std::filesystem::path& log, std::chrono::seconds limit);

// `meterflow bench measure --rusage FILE -- COMMAND...` (hidden): runs COMMAND as its child and
// writes "<status> <ru_maxrss KiB> <CPU µs>\n" to FILE. Returns 0, or 2 if COMMAND could not be run.
int run_measure_command(const std::string& rusage_file, const std::vector<std::string>& argv);

// User + system CPU time in a rusage, µs.
int64_t cpu_us(const rusage& usage);

// The last `lines` lines of a text file, for error messages ("" if unreadable).
std::string tail_of(const std::filesystem::path& file, int lines);

}  // namespace meterflow::detail
