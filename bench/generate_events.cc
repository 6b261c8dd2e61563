// meterflow-gen: writes a deterministic benchmark workload for `meterflow rate` (SPEC §1-§3, §6);
// what it contains is described in bench/workload.h.
//
//   meterflow-gen --out DIR [--events N] [--tenants N] [--seed S] [--dup-pct P] [--late-pct P]
//                 [--hours H]
//
// Same arguments, same bytes. Percentages are parsed exactly into basis points (at most two
// fractional digits).
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/workload.h"

namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "meterflow-gen: %s\n", message.c_str());
  std::exit(2);
}

int64_t parse_count(std::string_view flag, std::string_view text, int64_t min) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || v < min)
    die(std::string(flag) + ": expected an integer >= " + std::to_string(min) + ", got \"" +
        std::string(text) + "\"");
  return v;
}

int64_t parse_percent(std::string_view flag, std::string_view text) {
  auto bp = meterflow::workload::parse_percent_bp(text);
  if (!bp) die(std::string(flag) + ": " + bp.error().message);
  return *bp;
}

}  // namespace

int main(int argc, char** argv) {
  meterflow::workload::workload_options o;
  std::string out_dir;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf(
          "usage: meterflow-gen --out DIR [--events N (2000000)] [--tenants N (1000)]\n"
          "                     [--seed S (42)] [--dup-pct P (1)] [--late-pct P (0.5)]\n"
          "                     [--hours H (to 2026-09-01)]\n");
      return 0;
    }
    if (i + 1 >= argc) die(std::string(a) + ": missing value (see --help)");
    std::string_view v = argv[++i];
    if (a == "--events") o.events = parse_count(a, v, 1);
    else if (a == "--tenants") o.tenants = parse_count(a, v, 1);
    else if (a == "--seed") o.seed = static_cast<uint64_t>(parse_count(a, v, 0));
    else if (a == "--dup-pct") o.dup_bp = parse_percent(a, v);
    else if (a == "--late-pct") o.late_bp = parse_percent(a, v);
    else if (a == "--out") out_dir = v;
    else if (a == "--hours") o.hours = parse_count(a, v, 1);
    else die("unknown option " + std::string(a) + " (see --help)");
  }
  if (out_dir.empty()) die("--out DIR is required");

  auto c = meterflow::workload::write(o, out_dir);
  if (!c) die(c.error().message);
  std::fprintf(stderr,
               "meterflow-gen: wrote %s: %lld events (%lld duplicates, %lld late; types "
               "api_request %lld, transfer %lld, login %lld, storage_sample %lld, seat_count "
               "%lld), %lld tenants\n",
               out_dir.c_str(), static_cast<long long>(c->events),
               static_cast<long long>(c->duplicates), static_cast<long long>(c->late),
               static_cast<long long>(c->by_type[0]), static_cast<long long>(c->by_type[1]),
               static_cast<long long>(c->by_type[2]), static_cast<long long>(c->by_type[3]),
               static_cast<long long>(c->by_type[4]), static_cast<long long>(o.tenants));
  return 0;
}
