#!/usr/bin/env python3
"""`meterflow run` stops on errors a retry cannot fix, and says why (issue: scale-out and faults).

Against a `meterflow dev-cluster` process on 127.0.0.1:
1. an authorisation failure on every produce request (injected TOPIC_AUTHORIZATION_FAILED): the
   processor exits non-zero within a bounded time, naming the error, and nothing it had not
   committed is lost: restarted once the fault is cleared, it bills exactly the offline result;
2. a retriable error storm (NOT_LEADER_FOR_PARTITION on produce requests) does not stop it.

Usage: fatal_test.py METERFLOW METERFLOW_GEN
"""
import os
import shutil
import sys
import time

import processor_test as h  # the harness: Cluster, Processor, produce, offline, totals


def send(cluster, command):
    cluster.proc.stdin.write(command + "\n")
    cluster.proc.stdin.flush()
    answer = cluster.proc.stdout.readline().strip()
    if answer != "ok":
        raise RuntimeError(f"dev-cluster {command!r}: {answer}")


def main():
    ex = h.EXAMPLE
    catalog, subs, events = (os.path.join(ex, n) for n in ("catalog.json", "subscriptions.jsonl", "events.jsonl"))
    expected, ended, _ = h.offline(catalog, subs, events, "fatal")
    cluster = h.Cluster(partitions=4, apps=["fatal"])
    try:
        h.produce(cluster.bootstrap, "subscriptions", subs, key_field="tenant")
        h.produce(cluster.bootstrap, "meter-events", events)

        # 1. Every produce request from now on is refused: the changelog cannot be written.
        send(cluster, "errors Produce 100000 TOPIC_AUTHORIZATION_FAILED")
        p = h.Processor(cluster.bootstrap, "fatal", catalog)
        p.start()
        try:
            code = p.proc.wait(timeout=90)
        except Exception:
            code = None
        log = p.text()
        h.check("an authorisation failure stops the processor with a non-zero exit", code not in (None, 0),
                f"exit {code}")
        print(f"     exit code {code}; last line: {log.strip().splitlines()[-1][:300]}")
        h.check("the message names the failure", "TOPIC_AUTHORIZATION_FAILED" in log and "stopped:" in log,
                log[-600:])
        if code is None:
            p.kill9()

        send(cluster, "clear")
        p.start()
        ok, got = h.wait_for_totals(cluster.bootstrap, expected, ended, 90)
        h.check("restarted after the fault, it bills exactly the offline result", ok,
                h.diff(expected, h.restrict(got["totals"], ended)))

        # 2. Retriable errors are ridden out.
        send(cluster, "errors Produce 50 NOT_LEADER_FOR_PARTITION")
        h.produce(cluster.bootstrap, "meter-events", events)  # all duplicates now
        time.sleep(5)
        h.check("retriable produce errors do not stop the processor", p.alive(), p.text()[-600:])
        ok, got = h.wait_for_totals(cluster.bootstrap, expected, ended, 60)
        h.check("the re-sent events changed nothing", ok and got.get("conflicts") == [],
                h.diff(expected, h.restrict(got["totals"], ended)))
        h.check("SIGTERM still stops it cleanly", p.stop() == 0)
    finally:
        for proc in h.PROCESSES:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(h.TMP, ignore_errors=True)
    print(f"{h.RESULTS['passed']} passed, {h.RESULTS['failed']} failed")
    return 1 if h.RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
