#!/usr/bin/env bash
# bench_quick (ctest, label integration): runs `meterflow bench --quick --json` once and checks
# that the JSON has every figure, each {"median","min","max","runs"} with positive values, and
# the event-time span asked for (--hours). Not a timed test: the figures themselves are not judged.
#   quick_check.sh METERFLOW
set -euo pipefail
meterflow="$1"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/meterflow-bench-quick.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$meterflow" bench --quick --hours 6 --json "$tmp/bench.json" --tmp "$tmp"
python3 - "$tmp/bench.json" <<'PY'
import json, sys
figures = ["offline_memory_eps", "offline_rocksdb_eps", "offline_memory_peak_rss_mb",
           "offline_rocksdb_peak_rss_mb", "state_bytes_per_event", "ceiling_eps",
           "ceiling_peak_rss_mb", "end_to_end_eps", "ratio", "commit_p50_ms", "commit_p99_ms",
           "peak_rss_mb", "changelog_records_per_event", "output_records_per_event",
           "ceiling_cpu_us_per_event", "end_to_end_cpu_us_per_event"]
doc = json.load(open(sys.argv[1]))
bad = []
for key in figures:
    f = doc.get(key)
    values = [f.get(k) for k in ("median", "min", "max")] + f.get("runs", []) if isinstance(f, dict) else []
    if len(values) < 6 or not all(isinstance(v, (int, float)) and v > 0 for v in values):
        bad.append(f"{key}: {f!r}")
if doc.get("workload", {}).get("hours") != 6:
    bad.append(f"workload.hours: {doc.get('workload')!r}, asked for 6")
if bad:
    sys.exit("bench JSON: missing or non-positive figures:\n  " + "\n  ".join(bad))
print(f"bench JSON: all {len(figures)} figures present and positive")
PY
