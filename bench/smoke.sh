#!/usr/bin/env bash
# bench_smoke (ctest, label integration): a 20,000-event workload through both backends, once.
# Checks only that the generator and the benchmark run and agree with themselves (exit 0);
# the figures it prints mean nothing at this size.
#   smoke.sh GEN BENCH
set -euo pipefail
gen="$1"
bench="$2"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/meterflow-bench-smoke.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$gen" --events 20000 --tenants 50 --seed 7 --out "$tmp/workload"
"$bench" --dir "$tmp/workload" --runs 1 --tmp "$tmp"
