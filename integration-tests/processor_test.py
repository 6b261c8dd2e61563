#!/usr/bin/env python3
"""`meterflow run` against a development cluster process on 127.0.0.1 (issue: the stream processor).

Real processes only: `meterflow dev-cluster`, `meterflow run`, `meterflow produce`, `meterflow
totals`. The reference is always the offline engine (`meterflow rate`) on the same input, for the
billing periods that have ended (an open period has no recurring or minimum lines on Kafka yet,
while the offline flush closes it):

1. the hosting example: totals equal the offline result; dead letters counted per reason;
2. lost disk: the state directory deleted (all tasks, then one task) restores from the changelog,
   and replayed duplicates are still recognised;
3. a catalog reload takes effect without a restart; a broken catalog is rejected and the
   processor keeps running;
4. exactly_once_v2 runs end to end (the development cluster cannot prove the guarantee);
5. crash safety: a generated load of 200,000 events (duplicates, late events) produced in chunks
   while the processor is SIGKILLed 5 times and restarted: totals equal the offline result, every
   input record is counted, a duplicate or a dead letter, and no id has two contents.

Usage: processor_test.py METERFLOW METERFLOW_GEN [--quick]
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

METERFLOW = sys.argv[1]
GENERATOR = sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "hosting")
TMP = tempfile.mkdtemp(prefix="meterflow-processor-test-")
PROCESSES = []
RESULTS = {"passed": 0, "failed": 0}
TOPICS = ["meter-events", "subscriptions", "rated-charges", "charge-adjustments", "usage-alerts",
          "meter-events-dlq"]


def check(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else "\n     " + detail), flush=True)
    return ok


def run(*args, **kw):
    return subprocess.run([METERFLOW, *args], capture_output=True, text=True, timeout=120, **kw)


class Cluster:
    # The development cluster keeps about 5 MiB per partition: output topics of a large load get
    # more partitions (`wide`) so nothing is dropped before `totals` reads it.
    def __init__(self, partitions, brokers=1, apps=(), wide=None):
        topics = TOPICS + [f"{app}-state-changelog" for app in apps]
        cmd = [METERFLOW, "dev-cluster", "--brokers", str(brokers)]
        for t in topics:
            n = wide if wide and t in ("rated-charges", "charge-adjustments") else partitions
            cmd += ["--topic", f"{t}:{n}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        PROCESSES.append(self.proc)
        self.bootstrap = self.proc.stdout.readline().strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Processor:
    def __init__(self, bootstrap, app, catalog, **props):
        self.bootstrap, self.app, self.catalog = bootstrap, app, catalog
        self.state_dir = os.path.join(TMP, app + "-state")
        self.props = {"application.id": app, "bootstrap.servers": bootstrap,
                      "state.dir": self.state_dir, "catalog": catalog, "idle.close.ms": "1000",
                      "commit.interval.ms": "200", "kafka.session.timeout.ms": "6000"}
        self.props.update({k.replace("_", "."): v for k, v in props.items()})
        self.config = os.path.join(TMP, app + ".properties")
        with open(self.config, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in self.props.items())
        self.log_path = os.path.join(TMP, app + ".log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([METERFLOW, "run", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        PROCESSES.append(self.proc)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code

    def alive(self):
        return self.proc.poll() is None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def last_counts(self):
        """accepted, duplicates, {reason: n} from the last progress line of the log."""
        lines = re.findall(r"(\d+) accepted, (\d+) duplicates, dead letters:(.*)", self.text())
        if not lines:
            return None
        accepted, duplicates, dead = lines[-1]
        reasons = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", dead)}
        return int(accepted), int(duplicates), reasons


def produce(bootstrap, topic, path, key_field="subject"):
    r = run("produce", "--bootstrap", bootstrap, "--topic", topic, "--key-field", key_field, path)
    if r.returncode != 0:
        raise RuntimeError(f"produce {path}: {r.stderr}")


def kafka_totals(bootstrap):
    r = run("totals", "--bootstrap", bootstrap, "--topics", "rated-charges,charge-adjustments")
    return json.loads(r.stdout) if r.stdout.strip() else {"totals": {}, "conflicts": ["(no output)"]}


def offline(catalog, subscriptions, events, name):
    d = os.path.join(TMP, "offline-" + name)
    os.makedirs(d, exist_ok=True)
    r = run("rate", "--state", "memory", "--catalog", catalog, "--subscriptions", subscriptions,
            "--events", events, "--out", f"{d}/charges.jsonl", "--summary", f"{d}/summary.json")
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ended = set()
    with open(f"{d}/charges.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            if rec["period_end"] <= now:
                ended.add((rec["tenant"], rec["period_start"]))
    totals = json.loads(run("totals", f"{d}/charges.jsonl").stdout)["totals"]
    with open(f"{d}/summary.json") as f:
        summary = json.load(f)
    return {k: v for k, v in totals.items() if tuple(k.split("|")[:2]) in ended}, ended, summary


def restrict(totals, ended):
    return {k: v for k, v in totals.items() if tuple(k.split("|")[:2]) in ended}


def wait_for_totals(bootstrap, expected, ended, timeout):
    deadline = time.time() + timeout
    got = {}
    while time.time() < deadline:
        got = kafka_totals(bootstrap)
        if restrict(got["totals"], ended) == expected:
            return True, got
        time.sleep(1)
    return False, got


def diff(expected, got):
    keys = sorted(set(expected) | set(got))
    return "; ".join(f"{k}: expected {expected.get(k)}, got {got.get(k)}"
                     for k in keys if expected.get(k) != got.get(k))[:1500]


def example_tests():
    cluster = Cluster(partitions=4, apps=["ex", "eos"])
    subs = os.path.join(EXAMPLE, "subscriptions.jsonl")
    events = os.path.join(EXAMPLE, "events.jsonl")
    expected, ended, summary = offline(os.path.join(EXAMPLE, "catalog.json"), subs, events, "example")
    produce(cluster.bootstrap, "subscriptions", subs, key_field="tenant")

    catalog = os.path.join(TMP, "catalog.json")
    shutil.copy(os.path.join(EXAMPLE, "catalog.json"), catalog)
    p = Processor(cluster.bootstrap, "ex", catalog)
    p.start()
    produce(cluster.bootstrap, "meter-events", events)
    ok, got = wait_for_totals(cluster.bootstrap, expected, ended, 60)
    check("hosting example on Kafka: totals equal the offline run for ended periods", ok,
          diff(expected, restrict(got["totals"], ended)))
    check("no id with two contents", got.get("conflicts") == [], str(got.get("conflicts")))

    # The dead letters are on the DLQ topic: original bytes untouched, reason/error/source as headers.
    tail = run("tail", "--bootstrap", cluster.bootstrap, "--topic", "meter-events-dlq")
    dead = [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    with open(events) as f:
        originals = set(line.rstrip("\n") for line in f)
    reasons = sorted(d["headers"].get("reason") for d in dead)
    check("the DLQ topic holds each dead letter once, with its reason header",
          reasons == sorted(r for r, n in summary["dlq"].items() for _ in range(n)), str(reasons))
    check("dead letters keep the original bytes and name their source",
          all(d["value"] in originals and d["headers"].get("topic") == "meter-events"
              and d["headers"].get("offset", "").isdigit() and d["headers"].get("error") for d in dead),
          str(dead)[:500])

    # Catalog reload: a broken catalog is rejected and the processor keeps running; a valid one
    # is picked up without a restart.
    with open(catalog, "a") as f:
        f.write("{ this is not json")
    time.sleep(2.5)
    check("a broken catalog is rejected and logged", "catalog reload rejected" in p.text(), p.text()[-500:])
    check("the processor keeps running after a broken catalog", p.alive())
    # A valid catalog with a new recurring price applies to segments that start after the reload:
    # a tenant subscribed now pays it, while acme's October (already billed) keeps 49.99.
    with open(os.path.join(EXAMPLE, "catalog.json")) as f:
        repriced = f.read().replace('"amount": "49.99"', '"amount": "59.99"')
    with open(catalog, "w") as f:
        f.write(repriced)
    time.sleep(2.5)
    check("a fixed catalog is reloaded without a restart", "catalog reloaded" in p.text(), p.text()[-500:])
    newco = os.path.join(TMP, "newco.jsonl")
    with open(newco, "w") as f:
        f.write('{"tenant": "newco", "plan": "web_hosting", "start": "2026-10-01T00:00:00Z", '
                '"timezone": "UTC", "anchor_day": 1}\n')
    produce(cluster.bootstrap, "subscriptions", newco, key_field="tenant")
    deadline = time.time() + 30
    while time.time() < deadline:
        now = kafka_totals(cluster.bootstrap)["totals"]
        if "newco|2026-10-01T00:00:00Z|recurring|" in now:
            break
        time.sleep(1)
    check("the reloaded price bills a segment that starts after the reload",
          now.get("newco|2026-10-01T00:00:00Z|recurring|") == "59.99" and
          now.get("acme|2026-09-30T22:00:00Z|recurring|") == "49.99",
          str({k: v for k, v in now.items() if "recurring" in k}))

    check("SIGTERM stops the processor cleanly", p.stop() == 0)
    counts = p.last_counts()
    check("counts: accepted, duplicates and dead letters per reason equal the offline run",
          counts == (summary["accepted"], summary["duplicates"], summary["dlq"]),
          f"{counts} vs {summary}")

    # Lost disk: all tasks' state deleted; the changelog restores it. Re-sending the events must
    # then find them all as duplicates (dedup state restored), changing no total.
    shutil.rmtree(p.state_dir)
    p.start()
    produce(cluster.bootstrap, "meter-events", events)
    time.sleep(8)
    ok, got = wait_for_totals(cluster.bootstrap, expected, ended, 30)
    check("after deleting state.dir: restored from the changelog, totals still exact", ok,
          diff(expected, restrict(got["totals"], ended)))
    check("the restore is reported in the log", "restored" in p.text())
    p.stop()
    accepted, duplicates, _ = p.last_counts()
    check("re-sent events are duplicates after the restore",
          accepted == summary["accepted"] and duplicates == summary["duplicates"] + summary["accepted"] + summary["duplicates"],
          f"accepted {accepted}, duplicates {duplicates}")

    # Only one task's state lost.
    task_dirs = sorted(os.listdir(os.path.join(p.state_dir, "ex")))
    shutil.rmtree(os.path.join(p.state_dir, "ex", task_dirs[0]))
    p.start()
    produce(cluster.bootstrap, "meter-events", events)
    time.sleep(8)
    ok, got = wait_for_totals(cluster.bootstrap, expected, ended, 30)
    check("after deleting one task's state: totals still exact", ok,
          diff(expected, restrict(got["totals"], ended)))
    p.stop()

    # exactly_once_v2 end to end, on a fresh application over the same input.
    e = Processor(cluster.bootstrap, "eos", os.path.join(EXAMPLE, "catalog.json"),
                  processing_guarantee="exactly_once_v2")
    e.start()
    time.sleep(10)
    check("exactly_once_v2 runs and commits transactions", e.alive() and "processing" in e.text(),
          e.text()[-800:])
    code = e.stop()
    counts = e.last_counts()
    check("exactly_once_v2 processed every record", code == 0 and counts is not None and
          counts[0] == summary["accepted"], f"exit {code}, counts {counts}")
    cluster.stop()


def crash_test(events_count, kills):
    work = os.path.join(TMP, "load")
    subprocess.run([GENERATOR, "--out", work, "--events", str(events_count), "--tenants", "300"],
                   check=True, capture_output=True)
    catalog, subs, events = (os.path.join(work, n) for n in ("catalog.json", "subscriptions.jsonl", "events.jsonl"))
    expected, ended, summary = offline(catalog, subs, events, "load")
    with open(events) as f:
        lines = f.readlines()
    size = (len(lines) + kills) // (kills + 1)
    chunks = [lines[i:i + size] for i in range(0, len(lines), size)]
    cluster = Cluster(partitions=16, apps=["load"], wide=96)
    produce(cluster.bootstrap, "subscriptions", subs, key_field="tenant")
    p = Processor(cluster.bootstrap, "load", catalog)
    p.start()
    rng = random.Random(20261122)
    for i, chunk in enumerate(chunks):
        path = os.path.join(TMP, f"chunk-{i}.jsonl")
        with open(path, "w") as f:
            f.writelines(chunk)
        produce(cluster.bootstrap, "meter-events", path)
        if i < kills:
            time.sleep(rng.uniform(1.0, 6.0))
            p.kill9()
            p.start()
    ok, got = wait_for_totals(cluster.bootstrap, expected, ended, 240)
    check(f"crash safety: {len(lines)} events, {kills} SIGKILLs: totals equal the offline run", ok,
          diff(expected, restrict(got["totals"], ended)))
    check("crash safety: no id with two contents", got.get("conflicts") == [], str(got.get("conflicts"))[:300])
    lost = sum(t.get("unavailable", 0) for t in got.get("topics", {}).values())
    check("crash safety: no output record was dropped by the cluster's retention", lost == 0,
          f"{lost} records unavailable")
    time.sleep(3)
    p.stop()
    log = p.text()
    print(f"     after the kills: {log.count('republishing')} outbox republications, "
          f"{log.count('wrote a snapshot')} changelog snapshots, "
          f"{len(re.findall(r'assigned at offset', log))} task resumptions from stored offsets")
    accepted, duplicates, reasons = p.last_counts()
    dead = sum(reasons.values())
    print(f"     input {len(lines)}: counted {accepted}, duplicates {duplicates}, dead letters {dead}")
    check("crash safety: every input record is counted, a duplicate or a dead letter",
          accepted + duplicates + dead == len(lines) and accepted == summary["accepted"],
          f"{accepted} + {duplicates} + {dead} vs {len(lines)}; offline accepted {summary['accepted']}")
    cluster.stop()


def main():
    quick = "--quick" in sys.argv
    try:
        example_tests()
        crash_test(200_000 if not quick else 20_000, 5)
    finally:
        for proc in PROCESSES:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
