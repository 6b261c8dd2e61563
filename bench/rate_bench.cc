// meterflow-bench-rate: times the offline engine (meterflow::run_rate, SPEC §6) on a workload
// written by meterflow-gen, with the in-memory and the RocksDB state backend.
//
//   meterflow-bench-rate --dir DIR [--runs N (3)] [--backend both|memory|rocksdb] [--tmp DIR]
//                        [--commit-every N (200000)] [--window-ms N (3600000)]
//
// Per backend: events/s (input lines / elapsed_ns of the event loop, as run_rate reports it)
// median, min and max over the runs; events per CPU second (input lines / user+system CPU time
// of the whole run_rate call, all threads: less sensitive than wall time to other processes on a
// shared machine, and it counts RocksDB's background flushes); the counts, which must be identical across runs and
// backends (and so must the charges file, compared by hash) — any difference is a failure
// (exit 1); the peak RSS. For RocksDB also the size of the state directory after the run (the
// store is closed, so memtables are flushed to SST files) and bytes per accepted event.
//
// Output (charges, dead letters) and state go to a fresh directory under --tmp (default
// $TMPDIR or /tmp), removed at the end. Integer arithmetic throughout; nothing here touches
// money.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <xxhash.h>

#include "processor/offline_rate.h"

namespace fs = std::filesystem;
using namespace meterflow;

namespace {

[[noreturn]] void die(const std::string& message, int status = 2) {
  std::fprintf(stderr, "meterflow-bench-rate: %s\n", message.c_str());
  std::exit(status);
}

int64_t parse_count(std::string_view flag, std::string_view text, int64_t min) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || v < min)
    die(std::string(flag) + ": expected an integer >= " + std::to_string(min));
  return v;
}

// "1234567" -> "1,234,567".
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

// Events per second from a count and nanoseconds, integer.
int64_t per_second(int64_t count, int64_t ns) {
  if (ns <= 0) return 0;
  return static_cast<int64_t>(static_cast<__int128>(count) * 1'000'000'000 / ns);
}

// a / b with two decimals, integer math ("12.34").
std::string ratio2(int64_t a, int64_t b) {
  if (b <= 0) return "n/a";
  const int64_t hundredths = static_cast<int64_t>((static_cast<__int128>(a) * 100 + b / 2) / b);
  char frac[3] = {char('0' + hundredths % 100 / 10), char('0' + hundredths % 10), 0};
  return std::to_string(hundredths / 100) + "." + frac;
}

std::string mib(int64_t bytes) { return ratio2(bytes, 1 << 20) + " MiB"; }

int64_t dir_bytes(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) total += static_cast<int64_t>(it->file_size(ec2));
  }
  if (ec) die(dir.string() + ": " + ec.message());
  return total;
}

struct file_digest {
  uint64_t hash = 0;
  int64_t bytes = 0;
  bool operator==(const file_digest&) const = default;
};

file_digest digest(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die(path.string() + ": cannot read");
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::vector<char> buf(1 << 20);
  file_digest d;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n <= 0) break;
    XXH3_64bits_update(st, buf.data(), static_cast<size_t>(n));
    d.bytes += n;
  }
  d.hash = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return d;
}

// User + system CPU time of the process so far, all threads (microseconds).
int64_t cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (int64_t{ru.ru_utime.tv_sec} + ru.ru_stime.tv_sec) * 1'000'000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

// Peak RSS of the process so far (getrusage; KiB on Linux).
int64_t ru_maxrss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// VmHWM from /proc/self/status (KiB), and its reset through clear_refs (Linux >= 4.0), so each
// backend's own peak can be reported next to the process peak.
int64_t vm_hwm_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmHWM:")) return std::strtoll(line.c_str() + 6, nullptr, 10);
  return -1;
}
bool reset_hwm() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

struct run_result {
  rate_summary summary;
  int64_t total_ns = 0;     // whole run_rate call: catalog, subscriptions, events, close
  int64_t cpu_us = 0;       // CPU time of the whole run_rate call, all threads
  int64_t state_bytes = -1;  // rocksdb only
  file_digest charges;
};

std::string counts_line(const rate_summary& s) {
  return "lines " + grouped(s.input_lines) + " " + summary_json(s);
}

bool same_counts(const rate_summary& a, const rate_summary& b) {
  return a.input_lines == b.input_lines && a.counters.accepted == b.counters.accepted &&
         a.counters.duplicates == b.counters.duplicates &&
         a.counters.dead_letters == b.counters.dead_letters && a.charges == b.charges &&
         a.adjustments == b.adjustments && a.alerts == b.alerts;
}

const char* name(state_backend b) { return b == state_backend::memory ? "memory" : "rocksdb"; }

}  // namespace

int main(int argc, char** argv) {
  std::string dir, tmp_root, backend = "both";
  int64_t runs = 3, commit_every = 200'000, window_ms = 3'600'000;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf(
          "usage: meterflow-bench-rate --dir DIR [--runs N (3)] [--backend both|memory|rocksdb]\n"
          "                            [--tmp DIR] [--commit-every N (200000)]\n"
          "                            [--window-ms N (3600000)]\n");
      return 0;
    }
    if (i + 1 >= argc) die(std::string(a) + ": missing value (see --help)");
    std::string_view v = argv[++i];
    if (a == "--dir") dir = v;
    else if (a == "--runs") runs = parse_count(a, v, 1);
    else if (a == "--backend") backend = v;
    else if (a == "--tmp") tmp_root = v;
    else if (a == "--commit-every") commit_every = parse_count(a, v, 1);
    else if (a == "--window-ms") window_ms = parse_count(a, v, 1);
    else die("unknown option " + std::string(a) + " (see --help)");
  }
  if (dir.empty()) die("--dir DIR is required (a workload written by meterflow-gen)");
  std::vector<state_backend> backends;
  if (backend == "both" || backend == "memory") backends.push_back(state_backend::memory);
  if (backend == "both" || backend == "rocksdb") backends.push_back(state_backend::rocksdb);
  if (backends.empty()) die("--backend: expected both, memory or rocksdb");
  for (const char* f : {"catalog.json", "subscriptions.jsonl", "events.jsonl"})
    if (!fs::exists(fs::path(dir) / f)) die((fs::path(dir) / f).string() + ": missing");

  std::error_code ec;
  const fs::path tmp =
      (tmp_root.empty() ? fs::temp_directory_path() : fs::path(tmp_root)) /
      ("meterflow-bench-" + std::to_string(getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) die(tmp.string() + ": " + ec.message());
  struct cleanup {
    fs::path p;
    ~cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup_tmp{tmp};

  const int64_t events_bytes = static_cast<int64_t>(fs::file_size(fs::path(dir) / "events.jsonl"));
  std::printf("workload %s: events.jsonl %s; %lld run(s) per backend, commit every %s events, "
              "window %s ms\n",
              dir.c_str(), mib(events_bytes).c_str(), static_cast<long long>(runs),
              grouped(commit_every).c_str(), grouped(window_ms).c_str());
  std::fflush(stdout);

  std::optional<run_result> reference;  // the first run: every other must match it
  bool mismatch = false;
  for (state_backend b : backends) {
    const bool hwm_reset = reset_hwm();
    std::vector<run_result> results;
    for (int64_t run = 0; run < runs; ++run) {
      rate_options o;
      o.catalog_path = (fs::path(dir) / "catalog.json").string();
      o.subscriptions_path = (fs::path(dir) / "subscriptions.jsonl").string();
      o.events_path = (fs::path(dir) / "events.jsonl").string();
      o.out_path = (tmp / "charges.jsonl").string();
      o.dlq_path = (tmp / "dlq.jsonl").string();
      o.state = b;
      o.commit_every = commit_every;
      o.engine.window = millis{window_ms};
      const fs::path state_dir = tmp / "state-rocksdb";
      if (b == state_backend::rocksdb) {
        fs::remove_all(state_dir, ec);  // a fresh store: restore() must find nothing
        o.state_dir = state_dir.string();
      }
      const int64_t cpu0 = cpu_us();
      const auto t0 = std::chrono::steady_clock::now();
      auto s = run_rate(o);
      const auto t1 = std::chrono::steady_clock::now();
      const int64_t cpu1 = cpu_us();
      if (!s) die(std::string(name(b)) + " run " + std::to_string(run + 1) + ": " +
                  s.error().message, 1);
      run_result r;
      r.summary = *s;
      r.total_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
      r.cpu_us = cpu1 - cpu0;
      if (b == state_backend::rocksdb) {
        r.state_bytes = dir_bytes(state_dir);  // store closed by run_rate: SSTs only, no WAL
        fs::remove_all(state_dir, ec);
      }
      r.charges = digest(tmp / "charges.jsonl");
      std::printf("  %-7s run %lld: %s events/s (event loop %s ms, run_rate %s ms, CPU %s ms: "
                  "%s events per CPU second)%s\n",
                  name(b), static_cast<long long>(run + 1),
                  grouped(per_second(r.summary.input_lines, r.summary.elapsed_ns)).c_str(),
                  grouped(r.summary.elapsed_ns / 1'000'000).c_str(),
                  grouped(r.total_ns / 1'000'000).c_str(), grouped(r.cpu_us / 1'000).c_str(),
                  grouped(per_second(r.summary.input_lines, r.cpu_us * 1'000)).c_str(),
                  r.state_bytes >= 0 ? (", state " + mib(r.state_bytes)).c_str() : "");
      std::fflush(stdout);
      if (!reference) {
        reference = r;
      } else {
        if (!same_counts(reference->summary, r.summary)) {
          std::fprintf(stderr,
                       "meterflow-bench-rate: MISMATCH: %s run %lld counted differently\n"
                       "  first run: %s\n  this run:  %s\n",
                       name(b), static_cast<long long>(run + 1),
                       counts_line(reference->summary).c_str(), counts_line(r.summary).c_str());
          mismatch = true;
        }
        if (!(reference->charges == r.charges)) {
          std::fprintf(stderr,
                       "meterflow-bench-rate: MISMATCH: %s run %lld wrote different charges "
                       "(%lld bytes, xxh3 %016llx; first run %lld bytes, %016llx)\n",
                       name(b), static_cast<long long>(run + 1),
                       static_cast<long long>(r.charges.bytes),
                       static_cast<unsigned long long>(r.charges.hash),
                       static_cast<long long>(reference->charges.bytes),
                       static_cast<unsigned long long>(reference->charges.hash));
          mismatch = true;
        }
      }
      results.push_back(r);
    }

    std::vector<int64_t> rates, cpu_rates;
    for (const run_result& r : results) {
      rates.push_back(per_second(r.summary.input_lines, r.summary.elapsed_ns));
      cpu_rates.push_back(per_second(r.summary.input_lines, r.cpu_us * 1'000));
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    // Median: the middle run, or the mean of the two middle ones.
    const size_t n = rates.size();
    auto median_of = [n](const std::vector<int64_t>& v) {
      return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    };
    const int64_t median = median_of(rates);
    const rate_summary& s = results.front().summary;
    int64_t dead = 0;
    for (int64_t d : s.counters.dead_letters) dead += d;

    std::printf("%s: events/s median %s, min %s, max %s (%lld runs)\n", name(b),
                grouped(median).c_str(), grouped(rates.front()).c_str(),
                grouped(rates.back()).c_str(), static_cast<long long>(n));
    std::printf("  events per CPU second (whole run_rate, all threads): median %s, min %s, max %s\n",
                grouped(median_of(cpu_rates)).c_str(), grouped(cpu_rates.front()).c_str(),
                grouped(cpu_rates.back()).c_str());
    std::printf("  lines %s: accepted %s, duplicates %s, dead letters %s; charges %s, "
                "adjustments %s, alerts %s\n",
                grouped(s.input_lines).c_str(), grouped(s.counters.accepted).c_str(),
                grouped(s.counters.duplicates).c_str(), grouped(dead).c_str(),
                grouped(s.charges).c_str(), grouped(s.adjustments).c_str(),
                grouped(s.alerts).c_str());
    std::printf("  summary %s\n", summary_json(s).c_str());
    std::printf("  charges.jsonl %s, xxh3 %016llx\n", mib(results.front().charges.bytes).c_str(),
                static_cast<unsigned long long>(results.front().charges.hash));
    std::printf("  peak RSS: process (ru_maxrss, all runs so far) %s", mib(ru_maxrss_kib() * 1024).c_str());
    if (hwm_reset) std::printf("; this backend's runs (VmHWM reset before them) %s",
                               mib(vm_hwm_kib() * 1024).c_str());
    std::printf("\n");
    if (b == state_backend::rocksdb) {
      const int64_t bytes = results.back().state_bytes;
      std::printf("  rocksdb state dir at end of run: %s (%s bytes), %s bytes per accepted event\n",
                  mib(bytes).c_str(), grouped(bytes).c_str(),
                  ratio2(bytes, s.counters.accepted).c_str());
    }
    std::fflush(stdout);
  }
  if (mismatch) die("FAILED: runs or backends disagree (see above)", 1);
  return 0;
}
