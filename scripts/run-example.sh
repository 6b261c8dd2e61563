#!/usr/bin/env bash
# Sets up, builds, and runs meterflow on the bundled billing example (examples/hosting), twice:
# 1. offline: `meterflow rate` rates its events against its catalog and subscriptions, `meterflow
#    totals` sums the rated charges the way a downstream ledger would, and the result is compared
#    with the example's expected.json;
# 2. on Kafka: `meterflow run` starts with an embedded development cluster (nothing to install),
#    the example is produced to its topics, and the rated charges are read back from
#    rated-charges / charge-adjustments.
# Outputs land in out/hosting/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/build.sh"

meterflow="$root/build/processor/meterflow"
example="$root/examples/hosting"
out="$root/out/hosting"
mkdir -p "$out"

echo
echo "== meterflow rate on examples/hosting (see examples/hosting/README.md)"
"$meterflow" rate --catalog "$example/catalog.json" --subscriptions "$example/subscriptions.jsonl" \
  --events "$example/events.jsonl" --out "$out/charges.jsonl" --dlq "$out/dlq.jsonl" \
  --alerts "$out/alerts.jsonl" --summary "$out/summary.json"

echo
echo "== the first rated charge ($out/charges.jsonl)"
head -n 1 "$out/charges.jsonl"
echo
echo "== dead letters ($out/dlq.jsonl)"
cut -c1-160 "$out/dlq.jsonl"
echo
echo "== totals per tenant|period_start|kind|meter, as a ledger sums them"
"$meterflow" totals "$out/charges.jsonl" | tee "$out/totals.json"
echo
python3 - "$example/expected.json" "$out/totals.json" "$out/summary.json" <<'PY'
import json, sys
expected = json.load(open(sys.argv[1]))
totals = json.load(open(sys.argv[2]))["totals"]
summary = json.load(open(sys.argv[3]))
ok = totals == expected["totals"] and all(
    summary[k] == expected[k] for k in ("accepted", "duplicates", "dlq"))
print("== result matches examples/hosting/expected.json" if ok else
      "== MISMATCH against examples/hosting/expected.json")
sys.exit(0 if ok else 1)
PY

echo
echo "== meterflow run on an embedded Kafka development cluster"
cat >"$out/meterflow.properties" <<PROPS
application.id=example
state.dir=$out/state
catalog=$example/catalog.json
idle.close.ms=1000
dev.cluster.partitions=4
PROPS
rm -rf "$out/state"
"$meterflow" run --config "$out/meterflow.properties" >"$out/bootstrap.txt" 2>"$out/run.log" &
run_pid=$!
trap 'kill "$run_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$out/bootstrap.txt" ] && break; sleep 0.1; done
bootstrap="$(head -n 1 "$out/bootstrap.txt")"
echo "embedded cluster at $bootstrap (the processor's log: $out/run.log)"
"$meterflow" produce --bootstrap "$bootstrap" --topic subscriptions --key-field tenant "$example/subscriptions.jsonl"
"$meterflow" produce --bootstrap "$bootstrap" --topic meter-events "$example/events.jsonl"
echo "waiting for the processor (windows close by the wall clock after idle.close.ms)..."
for _ in $(seq 1 30); do
  sleep 1
  "$meterflow" totals --bootstrap "$bootstrap" --topics rated-charges,charge-adjustments >"$out/kafka-totals.json"
  python3 - "$out/kafka-totals.json" <<'PY' && break
import json, sys
sys.exit(0 if len(json.load(open(sys.argv[1]))["totals"]) >= 7 else 1)
PY
done
kill -TERM "$run_pid"; wait "$run_pid" || true
echo "== totals read back from the topics (periods that have ended; an open period is billed when it ends):"
cat "$out/kafka-totals.json"
grep -E "[0-9]+ tasks, .* accepted" "$out/run.log" | tail -n 1
