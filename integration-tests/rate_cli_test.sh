#!/usr/bin/env bash
# Runs the real `meterflow` binary offline (SPEC §6) and checks what a user sees:
# - the hosting example's totals and counts equal examples/hosting/expected.json, with the
#   RocksDB state (default) and with --state memory;
# - every output line validates against schemas/ (charge, adjustment, alert, dead letter);
# - unusable arguments, catalogs and files exit non-zero with a message naming the problem;
# - check-catalog prints the plans;
# - meterflow runs on mimalloc.
set -euo pipefail
meterflow="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$root/examples/hosting"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
check() {  # check NAME COMMAND...: runs the command, counts the result
  local name="$1"; shift
  if "$@"; then passes=$((passes + 1)); echo "ok   $name"; else failures=$((failures + 1)); echo "FAIL $name"; fi
}

validate() {  # validate FILE...: every line matches its schema (validate.py's log kept quiet)
  python3 "$root/schemas/validate.py" records "$@" >"$tmp/validate.log" 2>&1 || { cat "$tmp/validate.log"; return 1; }
}

compare_expected() {  # compare_expected TOTALS SUMMARY
  python3 - "$example/expected.json" "$1" "$2" <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2])); s = json.load(open(sys.argv[3]))
ok = t["totals"] == e["totals"] and t["conflicts"] == [] and all(s[k] == e[k] for k in ("accepted", "duplicates", "dlq"))
if not ok: print("expected", e, "\ngot", t, s)
sys.exit(0 if ok else 1)
PY
}

for state in rocksdb memory; do
  d="$tmp/$state"; mkdir -p "$d"
  "$meterflow" rate --state "$state" --catalog "$example/catalog.json" \
    --subscriptions "$example/subscriptions.jsonl" --events "$example/events.jsonl" \
    --out "$d/charges.jsonl" --dlq "$d/dlq.jsonl" --alerts "$d/alerts.jsonl" \
    --summary "$d/summary.json" 2>"$d/stderr"
  "$meterflow" totals "$d/charges.jsonl" >"$d/totals.json"
  check "hosting example matches expected.json ($state)" compare_expected "$d/totals.json" "$d/summary.json"
  check "outputs validate against the schemas ($state)" validate "$d/charges.jsonl" "$d/dlq.jsonl" "$d/alerts.jsonl"
done
check "both state stores give byte-identical charges" cmp -s "$tmp/rocksdb/charges.jsonl" "$tmp/memory/charges.jsonl"

# Every record kind the billing cases produce (minimum adjustments, groups, alerts, every
# dead-letter reason) validates against the schemas.
rate_case() {  # rate_case DIR: rates one case with its args and validates the outputs
  local dir="$1" d="$tmp/case"
  rm -rf "$d"; mkdir -p "$d"
  local args=()
  [ -f "$dir/args" ] && read -r -a args <"$dir/args"
  "$meterflow" rate --state memory --catalog "$dir/catalog.json" --subscriptions "$dir/subscriptions.jsonl" \
    --events "$dir/events.jsonl" --out "$d/charges.jsonl" --dlq "$d/dlq.jsonl" --alerts "$d/alerts.jsonl" \
    --summary "$d/summary.json" "${args[@]}" 2>/dev/null &&
    validate "$d/charges.jsonl" "$d/dlq.jsonl" "$d/alerts.jsonl"
}
for dir in "$root"/unit-tests/cases/*/; do
  check "outputs of case $(basename "$dir") validate against the schemas" rate_case "$dir"
done

expect_failure() {  # expect_failure NAME PATTERN COMMAND...: exits non-zero, stderr matches
  local name="$1" pattern="$2"; shift 2
  local rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" -ne 0 ] && grep -qE "$pattern" "$tmp/err"; then
    passes=$((passes + 1)); echo "ok   $name"
  else
    failures=$((failures + 1)); echo "FAIL $name (exit $rc)"; cat "$tmp/err"
  fi
}
printf '{"meters": [], "plans": [{"key": "p", "currency": "EUR", "versions": [{"effective_from": "2026-01-01T00:00:00Z", "charges": [{"type": "usage", "meter": "nope", "model": "per_unit", "unit_price": "1"}]}]}]}' >"$tmp/bad-catalog.json"
rate_args=(--subscriptions "$example/subscriptions.jsonl" --events "$example/events.jsonl" --out "$tmp/x.jsonl")
expect_failure "a catalog error names its JSON path" 'plans\[0\]\.versions\[0\]\.charges\[0\]' \
  "$meterflow" rate --catalog "$tmp/bad-catalog.json" "${rate_args[@]}"
expect_failure "a missing events file is named" 'no-such-file' \
  "$meterflow" rate --catalog "$example/catalog.json" --subscriptions "$example/subscriptions.jsonl" \
  --events "$tmp/no-such-file.jsonl" --out "$tmp/x.jsonl"
expect_failure "a bad duration is rejected" 'grace' \
  "$meterflow" rate --catalog "$example/catalog.json" "${rate_args[@]}" --grace 5parsecs
printf '{"tenant": "a", "plan": "p", "start": "yesterday"}\n' >"$tmp/bad-subs.jsonl"
expect_failure "a bad subscription names its line" 'bad-subs.jsonl:1' \
  "$meterflow" rate --catalog "$example/catalog.json" --subscriptions "$tmp/bad-subs.jsonl" \
  --events "$example/events.jsonl" --out "$tmp/x.jsonl"
expect_failure "check-catalog rejects a bad catalog" 'nope' "$meterflow" check-catalog "$tmp/bad-catalog.json"
check "check-catalog describes the example's plans" \
  bash -c "'$meterflow' check-catalog '$example/catalog.json' | grep -q enterprise_v2"

# meterflow runs on mimalloc (processor/allocator.h): libmimalloc is mapped in a rate waiting on
# a FIFO for its events.
runs_on_mimalloc() {
  local fifo="$tmp/events.fifo" seen=1
  mkfifo "$fifo"
  "$meterflow" rate --state memory --catalog "$example/catalog.json" \
    --subscriptions "$example/subscriptions.jsonl" --events "$fifo" --out "$tmp/fifo.jsonl" \
    >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do
    if grep -q libmimalloc "/proc/$pid/maps" 2>/dev/null; then seen=0; break; fi
    sleep 0.1
  done
  timeout 5 bash -c ": >'$fifo'" || kill "$pid"  # no events: the rate ends
  wait "$pid" || true
  return "$seen"
}
check "meterflow runs on mimalloc" runs_on_mimalloc

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
