#!/usr/bin/env python3
"""Scale-out and fault tolerance of `meterflow run` (issue 4) on a 3-broker development cluster.

Real processes on 127.0.0.1 only (`meterflow dev-cluster`, `run`, `produce`, `totals`, `rate`),
bounded in time (a watchdog kills everything past a hard timeout), temp dirs and processes cleaned
up on every exit. The reference is always the offline engine (`meterflow rate`) on the same input,
for the billing periods that have ended.

scaleout  Three instances (one application.id, each its own state.dir) process a steady stream
          of events on 16 input partitions; a fourth joins and one leaves (SIGTERM) while events
          flow. MF_SCALEOUT_THREADS=2 gives C and D two stream threads. Then: totals over the output topics equal the offline result, every input record
          is counted, a duplicate or a dead letter, no id has two contents, nothing was dropped by
          the cluster's retention, no instance exited on its own. Duplicate deliveries (same id,
          same bytes: allowed by the at-least-once outbox) are counted and printed.
zombie    Two instances; B is frozen (SIGSTOP) past its session timeout while events flow, A
          takes its tasks over, B is thawed. Then B is starved (10 % of the CPU for 25 s) while C
          joins: evicted in the middle of a rebalance, it writes for a moment as a zombie. Before
          that, foreign claim records in four changelog partitions must fence their owners, who
          take the tasks over again. The same checks.
chaos     For a bounded duration (default 75 s; MF_CHAOS_SECONDS or --chaos-seconds N for a long
          run) three instances (C with num.standby.replicas=1) are SIGKILLed and restarted at random (one kill every ~5 s),
          brokers are taken down and up, and retriable request errors are injected, while a
          producer keeps sending events with duplicates, late events and dead letters. Then the
          faults are cleared, every broker is brought up, the instances finish, and the same
          checks as scaleout apply.
standby   Two instances with num.standby.replicas=1: the owner of half the tasks is SIGKILLed,
          the survivor takes its tasks over; the handover time (kill -> each task assigned again,
          restore lines) is measured and compared with the same scenario with
          num.standby.replicas=0 (a full restore from the changelog). Both are printed. A build
          that rejects num.standby.replicas=1 ("not supported yet") makes this half a SKIP (exit
          77 when nothing failed).

The accounting: each task's counters (accepted, duplicates, dead letters) live in its state and
move with it. At the end every instance but one is stopped with SIGTERM; the last one then owns
every task and its progress line sums the counters of all tasks.

Only these fail a run: totals differ from the offline result, an input record not accounted
for, an id with two contents, records dropped by retention, an instance that exited on its own
(not by the test's SIGKILL/SIGTERM, or a non-zero exit after SIGTERM), a producer failure, or a
timeout. Duplicate deliveries are reported, not failed.

Usage:
  scaleout_test.py METERFLOW METERFLOW_GEN [scaleout|chaos|standby|all ...] [--chaos-seconds N]
      [--seed S]
  CI (ctest): scaleout, chaos (75 s of faults) and standby.
  Long chaos run (10 minutes of faults, 32 input partitions, ~25 minutes in all):
      MF_CHAOS_SECONDS=600 integration-tests/scaleout_test.py build/processor/meterflow \\
          build/bench/meterflow-gen chaos
  MF_KEEP_TMP=1 keeps the logs (instance logs, dev-cluster log with the faults it was sent) and
  prints where they are; --seed S changes the workload and the fault schedule.
  The development cluster itself (librdkafka 2.0.2's mock) can die on an assertion of its own
  after many minutes of faults (`rd_kafka_mock_cgrp_member_sync_set: Assertion '!member->resp'
  failed`); the test then fails saying so: that is the mock, not meterflow.
"""
import calendar
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mf_harness as mh  # noqa: E402

METERFLOW = os.path.abspath(sys.argv[1])
GENERATOR = os.path.abspath(sys.argv[2])
APP = "billing"
SKIP = 77

# Retriable request errors for the chaos run: each is something a Kafka client must ride out.
# None is a group coordinator error: with `_TRANSPORT`, COORDINATOR_NOT_AVAILABLE (Heartbeat,
# OffsetCommit) or COORDINATOR_LOAD_IN_PROGRESS (JoinGroup) a consumer looks for its coordinator
# again and re-sends a pending JoinGroup/SyncGroup, on which librdkafka 2.0.2's mock aborts
# (`rd_kafka_mock_cgrp_member_add`/`_sync_set: Assertion '!member->resp' failed`; seen in CI).
RETRIABLE_ERRORS = [
    "Produce 5 NOT_LEADER_OR_FOLLOWER",
    "Produce 2 REQUEST_TIMED_OUT",
    "Produce 2 KAFKA_STORAGE_ERROR",
    "Fetch 5 NOT_LEADER_OR_FOLLOWER",
    "ListOffsets 2 NOT_LEADER_OR_FOLLOWER",
    "Metadata 2 LEADER_NOT_AVAILABLE",
]


# ---------------------------------------------------------------------------------------------
# Shared pieces

def topics(partitions, charges, adjustments):
    """Topics of one cluster. Each partition costs the dev cluster ~250 ms to create, so the
    output topics are only as wide as the load needs (it keeps ~5 MiB per partition)."""
    return {"meter-events": partitions, "subscriptions": partitions,
            f"{APP}-state-changelog": partitions, "rated-charges": charges,
            "charge-adjustments": adjustments, "usage-alerts": 4, "meter-events-dlq": 4}


def generate(h, name, events, hours, seed, bad_every=400):
    """Generator output plus a few lines that must be dead letters (bad JSON, a bad time, an
    unknown tenant), mixed in. Returns (catalog, subscriptions, events file, lines)."""
    work = h.path(name + "-load")
    subprocess.run([GENERATOR, "--out", work, "--events", str(events), "--tenants", "300",
                    "--hours", str(hours), "--seed", str(seed), "--dup-pct", "2",
                    "--late-pct", "1"], check=True, capture_output=True, timeout=120)
    with open(os.path.join(work, "events.jsonl")) as f:
        lines = f.readlines()
    bad = ['this is not json\n',
           '{"specversion":"1.0","id":"bad-time-%d","source":"gw/x","type":"api_request",'
           '"subject":"tenant-00007","time":"yesterday","data":{}}\n',
           '{"specversion":"1.0","id":"ghost-%d","source":"gw/x","type":"api_request",'
           '"subject":"tenant-99999999","time":"2026-03-01T05:00:00Z","data":{}}\n']
    mixed = []
    for i, line in enumerate(lines):
        mixed.append(line)
        if i % bad_every == bad_every // 2:
            template = bad[(i // bad_every) % len(bad)]
            mixed.append(template % i if "%d" in template else template)
    path = mh.write_lines(os.path.join(work, "events-mixed.jsonl"), mixed)
    return os.path.join(work, "catalog.json"), os.path.join(work, "subscriptions.jsonl"), path, mixed


def log_time(stamp_text):
    """Epoch seconds of a log line's `2026-11-22T06:59:37.099Z`."""
    base, _, frac = stamp_text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z) meterflow: (.*)$", re.M)


def log_events(instance, since=0.0):
    """[(epoch, message)] of an instance's log lines at or after `since`."""
    return [(log_time(t), msg) for t, msg in LOG_LINE.findall(instance.text()) if log_time(t) >= since]


TASK_EVENT = re.compile(r"meterflow: task (\d+) (assigned|revoked|lost)")


def owned(instance):
    """Active tasks the instance holds now, from its log since its last start (standby lines
    are not ownership)."""
    text = instance.text()
    tasks = set()
    for line in text[text.rfind("harness: start"):].splitlines():
        m = TASK_EVENT.search(line)
        if m and "standby" not in line:
            (tasks.add if m.group(2) == "assigned" else tasks.discard)(int(m.group(1)))
    return tasks


def reap_all(h, instances, restart=False):
    """Records instances that exited on their own (a failure); restarts them when asked.
    False when none is left running (waits can give up)."""
    for i in instances:
        if i.reap():
            code, tail = i.crashes[-1]
            h.note(f"[{h.elapsed():.0f}s] {i.name} exited on its own with {code}:\n" +
                   "\n".join("       " + line for line in tail.splitlines()))
            if restart and len(i.crashes) <= 20:  # no endless crash loop
                i.start()
    return any(i.alive() for i in instances)


def check_no_crash(h, label, instances):
    crashes = [(i.name, code, tail) for i in instances for code, tail in i.crashes]
    h.check(f"{label}: no instance exited on its own", not crashes,
            "\n     ".join(f"{n} exit {c}: {t.splitlines()[-1] if t else ''}" for n, c, t in crashes))


def chunked_producer(h, cluster, events, lines, chunks, pause):
    """Produces `lines` to meter-events in `chunks` chunks, `pause` s apart, on a thread of its
    own. Returns (thread, progress): chunks and records sent so far, and the error that stopped
    it, if one did."""
    size = (len(lines) + chunks - 1) // chunks
    sent = {"chunks": 0, "records": 0, "error": None}

    def run():
        try:
            for k in range(chunks):
                path = mh.write_lines(os.path.join(os.path.dirname(events), f"chunk-{k}.jsonl"),
                                       lines[k * size:(k + 1) * size])
                sent["records"] += mh.produce(h, cluster.bootstrap, "meter-events", path)
                sent["chunks"] = k + 1
                time.sleep(pause)
        except Exception as e:  # noqa: BLE001 - reported as a failure by the caller
            sent["error"] = str(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, sent


def final_accounting(h, label, instances, keep, partitions, lines, summary):
    """Stops every instance but `keep` (SIGTERM, exit 0 expected); `keep` then owns all tasks and
    its progress line sums every task's counters."""
    for i in instances:
        if i is not keep:
            code = i.stop(timeout=90)
            if code != 0:
                i.crashes.append((code, "SIGTERM at the end: " + i.tail(10)))
    n = len(lines)
    # `keep` owns every task and has nothing left to read; the progress line that counts is the
    # one it writes when stopping (counters are published at commits and at the stop, so a line
    # in between may lag a rebalance). Should the sum still be short, `keep` is started again
    # (it resumes from its stored offsets) up to twice.
    for round_ in range(3):
        if round_:
            keep.start()
        deadline = time.time() + 150
        owned_all_at = None
        while time.time() < deadline and reap_all(h, [keep]):
            counts = keep.progress()
            if counts and counts[0] == partitions and \
                    counts[1] + counts[2] + sum(counts[3].values()) == n:
                break
            if len(owned(keep)) == partitions:
                owned_all_at = owned_all_at or time.time()
                if time.time() - owned_all_at > 8:
                    break
            else:
                owned_all_at = None
            time.sleep(1)
        held = len(owned(keep))
        code = keep.stop(timeout=90)
        if code != 0:
            keep.crashes.append((code, "SIGTERM at the end: " + keep.tail(10)))
        counts = keep.progress() or (0, 0, 0, {})
        _, accepted, duplicates, reasons = counts
        if held == partitions and accepted + duplicates + sum(reasons.values()) == n:
            break
        h.note(f"{keep.name} stopped holding {held} tasks with counts {counts[1:]}; "
               f"{'starting it again' if round_ < 2 else 'giving up'}")
    dead = sum(reasons.values())
    h.note(f"input {n} records: counted {accepted}, duplicates {duplicates}, dead letters {dead} "
           f"{reasons} (over the {held} tasks {keep.name} held); offline: counted {summary['accepted']}, "
           f"duplicates {summary['duplicates']}, dead letters {summary['dlq']}")
    h.check(f"{label}: every input record is counted, a duplicate or a dead letter",
            held == partitions and accepted + duplicates + dead == n and
            accepted == summary["accepted"],
            f"{keep.name} held {held} of {partitions} tasks: {accepted} + {duplicates} + {dead} = {accepted + duplicates + dead} "
            f"vs {n} input records; offline accepted {summary['accepted']}")
    return counts


def check_totals(h, label, bootstrap, expected, ended, timeout, on_poll=None):
    ok, got, secs = mh.wait_for_totals(h, bootstrap, expected, ended, timeout, on_poll)
    h.check(f"{label}: totals over the output topics equal the offline result "
            f"({len(expected)} tenant|period|kind|meter sums)", ok,
            mh.diff(expected, mh.restrict(got["totals"], ended)))
    h.check(f"{label}: no id with two contents", got.get("conflicts") == [],
            str(got.get("conflicts"))[:500])
    lost = mh.unavailable(got)
    h.check(f"{label}: no output record dropped by the cluster's retention", lost == 0,
            f"{lost} records unavailable")
    return ok, got, secs


def check_metrics(h, label, instances):
    """Every instance's input was contiguous (the producers write no transactions), and the
    restores its log reports are in its metrics too."""
    scraped = {}
    for i in instances:
        try:
            scraped[i.name] = i.metrics()
        except OSError as e:
            scraped[i.name] = {"error": str(e)}
    skipped = {n: m.get("meterflow_input_offsets_skipped_total") for n, m in scraped.items()}
    h.check(f"{label}: no input offset skipped (meterflow_input_offsets_skipped_total is 0)",
            all(v == 0 for v in skipped.values()), str(skipped))
    missing = [i.name for i in instances if i.count(r"changelog records \((?:full|incremental)") and
               not any(k.startswith("meterflow_task_restore_records{") for k in scraped[i.name])]
    h.check(f"{label}: restores are in the metrics (meterflow_task_restore_records)", not missing,
            f"no restore series from {missing}")


def report_deliveries(h, label, got, instances):
    republished = sum(int(n) for i in instances
                      for n in re.findall(r"republishing (\d+) records", i.text()))
    per_topic = ", ".join(f"{t} {c.get('records')}" for t, c in sorted(got.get("topics", {}).items()))
    h.note(f"{label}: {got.get('records')} output records read ({per_topic}), {got.get('repeated')} "
           f"delivered twice (same id, same bytes); {republished} records republished from outboxes")


# ---------------------------------------------------------------------------------------------
# 1. Scale-out

def scaleout(h, seed):
    partitions = 16
    cluster = mh.Cluster(h, topics(partitions, 24, 16), brokers=3, wait=False)
    catalog, subs, events, lines = generate(h, "scaleout", 45_000, 168, seed)
    expected, ended, summary = mh.offline(h, catalog, subs, events, "scaleout")
    cluster.wait_ready()
    h.note(f"[{h.elapsed():.0f}s] cluster up at {cluster.bootstrap}; {len(lines)} input records, "
           f"{len(expected)} sums in ended periods")
    mh.produce(h, cluster.bootstrap, "subscriptions", subs, key_field="tenant")
    # MF_SCALEOUT_THREADS=2: C and D run two stream threads each (zombie: B; chaos: B).
    threads = int(os.environ.get("MF_SCALEOUT_THREADS", "1"))
    instances = [mh.Instance(h, name, cluster.bootstrap, APP, catalog, scenario="scaleout",
                             num_stream_threads=threads if name in "CD" else 1,
                             metrics_address=mh.free_address())
                 for name in "ABCD"]
    a, b, c, d = instances
    for i in (a, b, c):
        i.start()

    chunks = 20
    started = time.time()
    t, sent = chunked_producer(h, cluster, events, lines, chunks, 1.5)

    time.sleep(6)
    reap_all(h, instances)
    d.start()
    h.note(f"[{h.elapsed():.0f}s] D started while chunk {sent['chunks']}/{chunks} is produced")
    deadline = time.time() + 40
    while not owned(d) and time.time() < deadline and reap_all(h, instances):
        time.sleep(0.5)
    h.note(f"[{h.elapsed():.0f}s] D owns tasks {sorted(owned(d))}; A {sorted(owned(a))}, "
           f"B {sorted(owned(b))}, C {sorted(owned(c))} (chunk {sent['chunks']}/{chunks})")
    joined_during_flow = sent["chunks"] < chunks
    code = b.stop()
    left_during_flow = sent["chunks"] < chunks
    h.note(f"[{h.elapsed():.0f}s] B left (SIGTERM, exit {code}) at chunk {sent['chunks']}/{chunks}")
    if code != 0:
        b.crashes.append((code, "SIGTERM: " + b.tail(10)))
    t.join(timeout=240)
    h.check("scaleout: the producer sent every record",
            not t.is_alive() and sent["error"] is None and sent["records"] == len(lines),
            f"{sent}")
    d_tasks = sorted({int(p) for p in re.findall(r"meterflow: task (\d+) assigned", d.text())})
    h.check("scaleout: D joined (and got tasks) and B left while events were flowing",
            joined_during_flow and left_during_flow and bool(d_tasks),
            f"join during flow {joined_during_flow}, leave during flow {left_during_flow}, "
            f"D was assigned {d_tasks}")
    running = [a, c, d]
    ok, got, secs = check_totals(h, "scaleout", cluster.bootstrap, expected, ended, 180,
                                 on_poll=lambda: reap_all(h, running))
    h.note(f"[{h.elapsed():.0f}s] totals {'exact' if ok else 'NOT exact'} {time.time() - started:.0f} s after the first chunk; "
           f"tasks now: A {sorted(owned(a))}, C {sorted(owned(c))}, D {sorted(owned(d))}")
    report_deliveries(h, "scaleout (before the final shutdown)", got, instances)
    check_metrics(h, "scaleout", running)
    final_accounting(h, "scaleout", running, a, partitions, lines, summary)
    got = mh.kafka_totals(h, cluster.bootstrap)
    h.check("scaleout: totals still exact after the instances left",
            mh.restrict(got["totals"], ended) == expected and got.get("conflicts") == [],
            mh.diff(expected, mh.restrict(got["totals"], ended)))
    report_deliveries(h, "scaleout (at the end)", got, instances)
    check_no_crash(h, "scaleout", instances)
    cluster.stop()


# ---------------------------------------------------------------------------------------------
# 1b. Zombie

def zombie(h, seed):
    """An instance frozen (SIGSTOP) past its session timeout loses its tasks without knowing;
    thawed (SIGCONT) it goes on for a moment with commits in flight and records polled: a zombie
    writer. Its writes must not count (docs/operations.md, "Fencing"). The freeze starts while
    the group is stable: librdkafka 2.0.2's mock aborts on a JoinGroup re-sent after a freeze in
    the middle of a rebalance, which is why chaos does not freeze instances."""
    partitions = 16
    cluster = mh.Cluster(h, topics(partitions, 24, 16), brokers=3, wait=False)
    catalog, subs, events, lines = generate(h, "zombie", 30_000, 168, seed + 2)
    expected, ended, summary = mh.offline(h, catalog, subs, events, "zombie")
    cluster.wait_ready()
    mh.produce(h, cluster.bootstrap, "subscriptions", subs, key_field="tenant")
    threads = int(os.environ.get("MF_SCALEOUT_THREADS", "1"))
    a, b, c = instances = [mh.Instance(h, name, cluster.bootstrap, APP, catalog, scenario="zombie",
                                       num_stream_threads=threads if name == "B" else 1)
                           for name in "ABC"]
    a.start()
    b.start()
    chunks = 24
    t, sent = chunked_producer(h, cluster, events, lines, chunks, 1.0)
    # Stable: both hold tasks, and no task moved for 6 s (B processes meanwhile).
    deadline = time.time() + 90
    last, since = None, time.time()
    while time.time() < deadline and reap_all(h, instances):
        now = (sorted(owned(a)), sorted(owned(b)))
        if now != last:
            last, since = now, time.time()
        elif now[0] and now[1] and time.time() - since >= 6:
            break
        time.sleep(0.5)
    # An intruder: a claim record from a writer nobody knows, in four changelog partitions. From
    # there on the owners' records do not count (only the latest claimant's do): each owner must
    # notice the gap in its offsets, publish nothing more for the task, and take it over again.
    intruder = mh.write_lines(h.path("intruder.jsonl"), ['{"claim": "W"}'])
    for p in (0, 1, 2, 3):
        mh.produce(h, cluster.bootstrap, f"{APP}-state-changelog", intruder, key_field="claim",
                   partition=p)
    h.note(f"[{h.elapsed():.0f}s] foreign claims written to changelog partitions 0-3")
    deadline = time.time() + 30
    while time.time() < deadline and sum(i.text().count(" reopened on stream thread ") for i in (a, b)) < 4:
        time.sleep(0.5)
    reopened = sorted({int(p) for i in (a, b) for p in re.findall(r"task (\d+) reopened", i.text())})
    h.check("zombie: every owner fenced by a foreign claim took its task over again",
            reopened == [0, 1, 2, 3], f"reopened {reopened}")
    frozen_tasks = sorted(owned(b))
    b.freeze()
    h.note(f"[{h.elapsed():.0f}s] B frozen holding tasks {frozen_tasks} (chunk {sent['chunks']}/{chunks})")
    # Past session.timeout.ms (6 s) B is evicted; the rebalance then waits up to as long again.
    deadline = time.time() + 40
    while time.time() < deadline and len(owned(a)) < partitions and reap_all(h, [a]):
        time.sleep(0.5)
    taken = sorted(owned(a))
    b.thaw()
    h.note(f"[{h.elapsed():.0f}s] B thawed; A held {taken} meanwhile")
    h.check("zombie: A took the frozen B's tasks over", set(frozen_tasks) <= set(taken),
            f"B held {frozen_tasks}, A {taken}")
    # Starved rather than frozen, B's own threads keep its session alive, but a rebalance (C
    # joins) asks more of it than it can do in time: evicted in the middle of revoking or opening
    # tasks, it goes on writing for them.
    starving = threading.Thread(target=b.starve, args=(25,), daemon=True)
    starving.start()
    time.sleep(2)
    c.start()
    h.note(f"[{h.elapsed():.0f}s] B starved to 10 % of the CPU for 25 s; C joins meanwhile")
    starving.join(timeout=60)
    t.join(timeout=240)
    h.check("zombie: the producer sent every record",
            not t.is_alive() and sent["error"] is None and sent["records"] == len(lines), f"{sent}")
    _, got, secs = check_totals(h, "zombie", cluster.bootstrap, expected, ended, 180,
                                on_poll=lambda: reap_all(h, instances))
    for i in instances:
        logs = i.text()
        h.note(f"zombie: {i.name} logged {len(re.findall(r' lost$', logs, re.M))} lost tasks, "
               f"{logs.count(': fenced: ')} fenced, {logs.count(' reopened on stream thread ')} reopened")
    report_deliveries(h, "zombie (before the final shutdown)", got, instances)
    final_accounting(h, "zombie", instances, a, partitions, lines, summary)
    # What counts is what the changelogs say: rebuilt from them alone, the counts are the same.
    shutil.rmtree(a.state_dir)
    a.start()
    final_accounting(h, "zombie (A's state deleted, rebuilt from the changelogs)", [a], a, partitions,
                     lines, summary)
    got = mh.kafka_totals(h, cluster.bootstrap)
    h.check("zombie: totals still exact after the instances stopped",
            mh.restrict(got["totals"], ended) == expected and got.get("conflicts") == [],
            mh.diff(expected, mh.restrict(got["totals"], ended)))
    check_no_crash(h, "zombie", instances)
    cluster.stop()


# ---------------------------------------------------------------------------------------------
# 2. Chaos

def chaos(h, seed, seconds):
    rng = random.Random(seed)
    long_run = seconds > 150
    partitions = 32 if long_run else 16
    # The changelog is a topic like any other here: ~5 MiB per partition. ~600 events/s for the
    # CI run; a long run sends fewer per second so its changelogs stay restorable.
    count = int(os.environ.get("MF_CHAOS_EVENTS", 0)) or (90_000 if long_run else 45_000)
    # Kills and rebalances leave partitions idle: the idle rule closes their windows and later
    # events become adjustments (a long run wrote ~70,000): both output topics are wide.
    cluster = mh.Cluster(h, topics(partitions, 32 if long_run else 24, 48 if long_run else 16),
                         brokers=3, wait=False)
    catalog, subs, events, lines = generate(h, "chaos", count, 168, seed + 1)
    expected, ended, summary = mh.offline(h, catalog, subs, events, "chaos")
    cluster.wait_ready()
    # librdkafka 2.0.2's mock aborts (`rd_kafka_mock_cgrp_member_add: Assertion '!member->resp'
    # failed`) when a member re-sends a pending JoinGroup/SyncGroup after its connection to the
    # group coordinator dropped. So the coordinator stays on broker 1, which is never taken down;
    # brokers 2 and 3 lead two thirds of every topic's partitions and go down and up.
    answer = cluster.command(f"coordinator group {APP} 1")
    if answer != "ok":
        raise RuntimeError(f"dev-cluster: coordinator: {answer}")
    h.note(f"[{h.elapsed():.0f}s] cluster up; {len(lines)} input records over {seconds} s of faults, "
           f"{partitions} partitions")
    mh.produce(h, cluster.bootstrap, "subscriptions", subs, key_field="tenant")
    # C keeps standbys of the tasks it does not own (MF_SCALEOUT_THREADS=2: B runs two threads).
    extra = {"A": {}, "B": {"num_stream_threads": int(os.environ.get("MF_SCALEOUT_THREADS", "1"))},
             "C": {"num_standby_replicas": 1}}
    instances = [mh.Instance(h, name, cluster.bootstrap, APP, catalog, scenario="chaos", **extra[name])
                 for name in "ABC"]
    for i in instances:
        i.start()

    # The chunks are scheduled over 70 % of the fault window: a broker that is down stalls the
    # producer too, and most records should still go out while the faults go on.
    chunks = max(10, int(seconds * 0.7 / 2.0))
    chunk_every = seconds * 0.7 / chunks
    size = (len(lines) + chunks - 1) // chunks
    sent = {"chunks": 0, "records": 0, "error": None, "slowest": 0.0}

    def producer():
        try:
            begin = time.time()
            for k in range(chunks):
                path = mh.write_lines(os.path.join(os.path.dirname(events), f"chunk-{k}.jsonl"),
                                       lines[k * size:(k + 1) * size])
                t0 = time.time()
                sent["records"] += mh.produce(h, cluster.bootstrap, "meter-events", path)
                sent["slowest"] = max(sent["slowest"], time.time() - t0)
                sent["chunks"] = k + 1
                # Keep to the schedule: chunk k+1 goes out at (k+1) * chunk_every.
                time.sleep(max(0.0, begin + (k + 1) * chunk_every - time.time()))
        except Exception as e:  # noqa: BLE001
            sent["error"] = str(e)

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    time.sleep(3)  # let the group form before the first fault

    stats = {"kills": 0, "restarts": 0, "broker_downs": 0, "errors": 0}
    restart_at = {}           # instance -> when to restart it
    broker_down = None        # (broker, when to bring it up)
    next_kill = time.time() + rng.uniform(2, 5)
    next_broker = time.time() + rng.uniform(6, 12)
    next_error = time.time() + rng.uniform(2, 4)
    end = time.time() + seconds
    downtime = 0.0
    while time.time() < end:
        now = time.time()
        if not cluster.alive():
            raise RuntimeError(cluster.death())
        reap_all(h, instances, restart=True)
        for i, when in list(restart_at.items()):
            if now >= when:
                i.start()
                stats["restarts"] += 1
                del restart_at[i]
        if now >= next_kill:
            alive = [i for i in instances if i.alive() and i not in restart_at]
            if alive:
                victim = rng.choice(alive)
                victim.kill9()
                stats["kills"] += 1
                # Mostly back at once (a crash loop), sometimes after long enough for the group
                # to move its tasks (session.timeout.ms=6000).
                restart_at[victim] = now + (rng.uniform(0.2, 2.0) if rng.random() < 0.7 else rng.uniform(7, 10))
            next_kill = now + rng.uniform(4.0, 6.0)
        if broker_down and now >= broker_down[1]:
            cluster.command(f"up {broker_down[0]}")
            broker_down = None
            next_broker = now + rng.uniform(6, 12)
        elif not broker_down and now >= next_broker:
            broker = rng.randint(2, 3)  # not the group coordinator (above)
            cluster.command(f"down {broker}")
            length = rng.uniform(3, 8)
            downtime += length
            broker_down = (broker, now + length)
            stats["broker_downs"] += 1
        if now >= next_error:
            cluster.command("errors " + rng.choice(RETRIABLE_ERRORS))
            stats["errors"] += 1
            next_error = now + rng.uniform(2, 5)
        time.sleep(0.2)

    during = sent["records"]
    cluster.command("clear")
    for b in range(1, 4):
        cluster.command(f"up {b}")
    for i in list(restart_at):
        i.start()
        stats["restarts"] += 1
    reap_all(h, instances, restart=True)
    h.note(f"[{h.elapsed():.0f}s] faults over: {stats['kills']} SIGKILLs, {stats['restarts']} restarts, "
           f"{stats['broker_downs']} broker downs ({downtime:.0f} s down in all), "
           f"{stats['errors']} injected error bursts; {during} of {len(lines)} records were produced "
           f"while they went on")
    t.join(timeout=300)
    h.note(f"[{h.elapsed():.0f}s] producer done: {sent['records']} records, slowest chunk "
           f"{sent['slowest']:.1f} s")
    h.check(f"chaos: at least {max(10, int(seconds / 6))} SIGKILLs", stats["kills"] >= max(10, int(seconds / 6)),
            str(stats))
    h.check("chaos: the producer sent every record",
            not t.is_alive() and sent["error"] is None and sent["records"] == len(lines), str(sent))
    ok, got, secs = check_totals(h, "chaos", cluster.bootstrap, expected, ended, 300,
                                 on_poll=lambda: reap_all(h, instances, restart=True))
    h.note(f"[{h.elapsed():.0f}s] totals {'exact' if ok else 'NOT exact'} {secs:.0f} s after the producer finished")
    report_deliveries(h, "chaos (before the final shutdown)", got, instances)
    logs = "".join(i.text() for i in instances)
    h.note(f"chaos: {logs.count(': fenced: ')} tasks fenced (an evicted owner's writes detected), "
           f"{logs.count(' reopened on stream thread ')} reopened")
    h.note(f"chaos: {len(re.findall(r': restored ', logs))} restores from the changelog, "
           f"{logs.count('wrote a snapshot')} snapshots, {len(re.findall(r'assigned.* at offset', logs))} "
           f"task resumptions from stored offsets, {len(re.findall(r' (revoked|lost)$', logs, re.M))} "
           f"revocations")
    final_accounting(h, "chaos", instances, instances[0], partitions, lines, summary)
    got = mh.kafka_totals(h, cluster.bootstrap)
    h.check("chaos: totals still exact after the instances stopped",
            mh.restrict(got["totals"], ended) == expected and got.get("conflicts") == [],
            mh.diff(expected, mh.restrict(got["totals"], ended)))
    report_deliveries(h, "chaos (at the end)", got, instances)
    check_no_crash(h, "chaos", instances)
    cluster.stop()


# ---------------------------------------------------------------------------------------------
# 3. Standby

STANDBY_UNSUPPORTED = "not supported yet"


def handover(h, replicas, seed):
    """One scenario: two instances, the owner of tasks killed; returns a dict of measurements,
    or None when the build rejects this num.standby.replicas."""
    label = f"standby (num.standby.replicas={replicas})"
    partitions = 8
    cluster = mh.Cluster(h, topics(partitions, 16, 4), brokers=3, wait=False)
    catalog, subs, events, lines = generate(h, f"standby{replicas}", 30_000, 24, seed + 2)
    expected, ended, summary = mh.offline(h, catalog, subs, events, f"standby{replicas}")
    cluster.wait_ready()
    mh.produce(h, cluster.bootstrap, "subscriptions", subs, key_field="tenant")
    first, second = lines[:len(lines) * 3 // 4], lines[len(lines) * 3 // 4:]
    x, y = (mh.Instance(h, f"{n}{replicas}", cluster.bootstrap, APP, catalog,
                        scenario=f"standby{replicas}", num_standby_replicas=replicas) for n in "XY")
    instances = [x, y]
    x.start()
    y.start()
    mh.produce(h, cluster.bootstrap, "meter-events",
               mh.write_lines(os.path.join(os.path.dirname(events), "first.jsonl"), first))
    # Both instances own tasks, and everything produced so far is processed.
    deadline = time.time() + 90
    ready = False
    while time.time() < deadline and not ready:
        running = reap_all(h, instances)
        if any(STANDBY_UNSUPPORTED in i.text() for i in instances):
            h.note(f"{label}: this build rejects it: " +
                   next(line for i in instances for line in i.text().splitlines()
                        if STANDBY_UNSUPPORTED in line))
            cluster.stop()
            return None
        if not running:
            break
        if owned(x) and owned(y) and len(owned(x) | owned(y)) == partitions:
            counts = [i.progress() for i in instances]
            ready = all(counts) and \
                sum(c[1] + c[2] + sum(c[3].values()) for c in counts) >= len(first) and \
                all(c[0] == len(owned(i)) for c, i in zip(counts, instances))
        time.sleep(1)
    h.check(f"{label}: both instances own tasks and processed the first {len(first)} records",
            ready, f"X owns {sorted(owned(x))}, Y owns {sorted(owned(y))}; progress "
            f"{[i.progress() for i in instances]}")
    time.sleep(3)  # let standbys (if any) catch up with the last commits
    victim, survivor = (x, y) if len(owned(x)) >= len(owned(y)) else (y, x)
    moved = sorted(owned(victim))
    h.note(f"{label}: {victim.name} owns {moved}, {survivor.name} owns {sorted(owned(survivor))}; "
           f"SIGKILL {victim.name}")
    killed_at = time.time()
    victim.kill9()
    # The survivor's log: when does it hold each of the victim's tasks again?
    assigned = {}
    deadline = time.time() + 60
    while time.time() < deadline and len(assigned) < len(moved):
        reap_all(h, [survivor])
        for when, msg in log_events(survivor, killed_at):
            m = re.match(r"task (\d+) assigned", msg)
            if m and int(m.group(1)) in moved:
                assigned.setdefault(int(m.group(1)), when - killed_at)
        time.sleep(0.1)
    after = log_events(survivor, killed_at)
    # `task P: restored N changelog records (full|incremental, up to its claim at offset C) in
    # M ms` (incremental: from the position of a standby or of the instance's own commits).
    restores = [(int(p), int(ms), "incremental" if "incremental" in what else "full" if "full" in what else "?")
                for _, msg in after
                for p, what, ms in re.findall(r"^task (\d+): restored (.*) in (\d+) ms", msg)]
    restore_lines = [msg for _, msg in after
                     if re.search(r"restor|standby|warm|replica|promot|catch|handed", msg, re.I)
                     and not mh.PROGRESS.match("T meterflow: " + msg)]
    h.check(f"{label}: the survivor took over every task of the killed instance",
            len(assigned) == len(moved), f"assigned again: {assigned} of {moved}")
    # Processing again: the rest of the events goes through the survivor alone.
    mh.produce(h, cluster.bootstrap, "meter-events",
               mh.write_lines(os.path.join(os.path.dirname(events), "second.jsonl"), second))
    _, got, secs = check_totals(h, label, cluster.bootstrap, expected, ended, 120,
                                on_poll=lambda: reap_all(h, [survivor]))
    result = {"replicas": replicas, "moved": moved,
              "first": min(assigned.values()) if assigned else None,
              "last": max(assigned.values()) if assigned else None,
              "restore_ms": sum(ms for p, ms, _ in restores if p in moved),
              "restores": len([1 for p, _, _ in restores if p in moved]),
              "kinds": sorted({k for p, _, k in restores if p in moved}),
              "lines": restore_lines, "repeated": got.get("repeated")}
    h.note(f"{label}: {len(assigned)}/{len(moved)} tasks assigned again "
           f"{result['first'] if result['first'] is None else round(result['first'], 2)}-"
           f"{result['last'] if result['last'] is None else round(result['last'], 2)} s after the "
           f"kill; {result['restores']} changelog restores ({', '.join(result['kinds']) or 'none'}) of those "
           f"tasks took {result['restore_ms']} ms; "
           f"{result['repeated']} records delivered twice")
    for line in restore_lines[:20]:
        h.note("  " + line)
    survivor.stop()
    check_no_crash(h, label, instances)
    cluster.stop()
    return result


def standby(h, seed):
    full = handover(h, 0, seed)
    warm = handover(h, 1, seed)
    if full and warm and full["last"] is not None and warm["last"] is not None:
        h.note(f"handover: with a standby {warm['last']:.2f} s (restores {warm['restore_ms']} ms), "
               f"with a full restore {full['last']:.2f} s (restores {full['restore_ms']} ms); "
               "both include the session timeout (6 s) and the cooperative rebalance")
    return warm is not None


# ---------------------------------------------------------------------------------------------

def main():
    args = sys.argv[3:]
    seed = 20261122
    seconds = int(os.environ.get("MF_CHAOS_SECONDS", "75"))
    names = []
    i = 0
    while i < len(args):
        if args[i] == "--chaos-seconds":
            seconds, i = int(args[i + 1]), i + 2
        elif args[i] == "--seed":
            seed, i = int(args[i + 1]), i + 2
        else:
            names.append(args[i])
            i += 1
    if not names or "all" in names:
        names = ["scaleout", "zombie", "chaos", "standby"]
    budget = {"scaleout": 420, "zombie": 420, "chaos": seconds + 600, "standby": 420}
    h = mh.Harness(METERFLOW, "meterflow-scaleout-test-", sum(budget[n] for n in names))
    skipped = False
    try:
        for name in names:
            start = time.time()
            print(f"== {name}", flush=True)
            if name == "scaleout":
                scaleout(h, seed)
            elif name == "zombie":
                zombie(h, seed)
            elif name == "chaos":
                chaos(h, seed, seconds)
            elif name == "standby":
                skipped = not standby(h, seed)
            else:
                raise SystemExit(f"unknown test {name} (scaleout, zombie, chaos, standby, all)")
            print(f"== {name}: {time.time() - start:.0f} s", flush=True)
    except Exception as e:  # noqa: BLE001 - a harness error is a failure with its reason
        h.check("the test ran to its end", False, f"{type(e).__name__}: {e}")
    finally:
        h.close()
    code = h.summary()
    if code == 0 and skipped:
        print("SKIP standby with num.standby.replicas=1: not supported by this build")
        return SKIP
    return code


if __name__ == "__main__":
    sys.exit(main())
