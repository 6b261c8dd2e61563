#!/usr/bin/env bash
# Sets up, builds, and runs meterflow on the bundled billing example (examples/hosting):
# `meterflow rate` rates its events against its catalog and subscriptions, then `meterflow
# totals` sums the rated charges the way a downstream ledger would, and the result is compared
# with the example's expected.json. Outputs land in out/hosting/.
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
