"""Shared pieces of the Python integration tests: real `meterflow` processes on 127.0.0.1.

Python 3 standard library only. A `Harness` owns a temporary directory and every process it
starts; `close()` (always called, also on failure, SIGTERM or the watchdog's hard timeout) kills
what is still running and removes the directory. Children also get SIGKILL when the test process
dies (PR_SET_PDEATHSIG), so nothing outlives a killed test.

- `Cluster`: `meterflow dev-cluster` with its stdin commands (down/up/errors/clear/topic).
- `Instance`: one `meterflow run` with its own config, state.dir and log; knows whether an exit
  was asked for (SIGKILL/SIGTERM by the test) or happened on its own (a crash).
- `offline()`, `kafka_totals()`, `restrict()`, `diff()`: the reference (`meterflow rate` over the
  same input, periods that have ended) and the ledger read back from the output topics.
"""
import ctypes
import json
import os
import queue
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import tempfile
import threading
import time

OUTPUT_TOPICS = ("rated-charges", "charge-adjustments")
BASE_TOPICS = ["meter-events", "subscriptions", "rated-charges", "charge-adjustments",
               "usage-alerts", "meter-events-dlq"]

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal, close() still cleans up
    _prctl = None


def _die_with_parent():
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.environ.get("MF_CORE_DUMPS"):
        # A crashing instance leaves a core file in its directory (with MF_KEEP_TMP=1 to keep it;
        # needs kernel.core_pattern=core).
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def stamp():
    return time.strftime("%H:%M:%S", time.localtime())


class Harness:
    def __init__(self, meterflow, prefix, hard_timeout):
        self.meterflow = meterflow
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.processes = []
        self.lock = threading.Lock()
        self.results = {"passed": 0, "failed": 0}
        self.failures = []
        self.closed = False
        self.started = time.time()
        self.hard_timeout = hard_timeout
        # The watchdog: past the hard timeout everything is killed and the test fails.
        self.watchdog = threading.Timer(hard_timeout, self._timeout)
        self.watchdog.daemon = True
        self.watchdog.start()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def _timeout(self):
        print(f"FAIL hard timeout: the test ran for more than {self.hard_timeout:.0f} s; "
              "killing every process", flush=True)
        self.close()
        os._exit(1)

    def elapsed(self):
        return time.time() - self.started

    def check(self, name, ok, detail=""):
        with self.lock:
            self.results["passed" if ok else "failed"] += 1
            if not ok:
                self.failures.append(name)
        print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else "\n     " + detail),
              flush=True)
        return ok

    def note(self, text):
        print("     " + text, flush=True)

    def popen(self, args, **kw):
        proc = subprocess.Popen(args, preexec_fn=_die_with_parent, **kw)
        with self.lock:
            self.processes.append(proc)
        return proc

    def run(self, *args, timeout=120):
        return subprocess.run([self.meterflow, *args], capture_output=True, text=True,
                              timeout=timeout)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            procs = list(self.processes)
        self.watchdog.cancel()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if os.environ.get("MF_KEEP_TMP"):
            print(f"     logs kept in {self.tmp}", flush=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.results["failed"]:
                print("     (MF_KEEP_TMP=1 keeps the logs of a run)", flush=True)

    def summary(self):
        print(f"{self.results['passed']} passed, {self.results['failed']} failed "
              f"({self.elapsed():.0f} s)", flush=True)
        return 1 if self.results["failed"] else 0


class Cluster:
    """`meterflow dev-cluster --brokers N --topic NAME:P ...`; commands on its stdin."""

    count = 0

    def __init__(self, h, topics, brokers=3, wait=True):
        """Starts the cluster; with wait=False, `wait_ready()` later (creating topics costs the
        mock ~250 ms per partition: other work can overlap it)."""
        self.h = h
        cmd = [h.meterflow, "dev-cluster", "--brokers", str(brokers)]
        for name, partitions in topics.items():
            cmd += ["--topic", f"{name}:{partitions}"]
        self.brokers = brokers
        Cluster.count += 1
        self.log_path = h.path(f"dev-cluster-{Cluster.count}.log")
        self.log = open(self.log_path, "a")
        self.proc = h.popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                            text=True, bufsize=1)
        self.lines = queue.Queue()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.bootstrap = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=180):
        if self.bootstrap is None:
            self.bootstrap = self._answer(timeout)
            if not self.bootstrap or "error" in self.bootstrap:
                raise RuntimeError(f"dev-cluster did not start: {self.bootstrap!r}")
        return self.bootstrap

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _answer(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def command(self, line):
        """Sends one stdin command and returns its answer line (`ok` or `error: ...`)."""
        with self.lock:
            self.log.write(f"==== {stamp()} harness: {line}\n")
            self.log.flush()
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except OSError:
                pass  # it died: said below
            answer = self._answer(10)
        if self.proc.poll() is not None:
            raise RuntimeError(self.death())
        if answer != "ok":
            raise RuntimeError(f"dev-cluster command {line!r} answered {answer!r}")
        return answer

    def death(self):
        """Why the cluster process is gone: its exit status and the last line it wrote (librdkafka
        2.0.2's mock can die on an assertion of its own, e.g. `rd_kafka_mock_cgrp_member_sync_set:
        Assertion '!member->resp' failed`, when a member re-sends SyncGroup after a broker came
        back: that is the development cluster failing, not meterflow)."""
        with open(self.log_path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("==== ")]
        return (f"the development cluster exited with {self.proc.returncode}: "
                f"{lines[-1] if lines else '(no output)'}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# `N tasks: ...` or `N tasks, M standbys: ...` (lenient: the line is still evolving).
PROGRESS = re.compile(r"^(\S+) meterflow: (\d+) tasks[^:]*: (\d+) accepted, (\d+) duplicates, "
                      r"dead letters:(.*)$", re.M)


class Instance:
    """One `meterflow run` process: its own state.dir and log; restarts keep both."""

    def __init__(self, h, name, bootstrap, app, catalog, scenario="", **props):
        """`scenario` names a sub-directory of the harness's temp dir: two scenarios' instances
        of the same name never share a state.dir (stale state from another cluster would be
        taken for this one's)."""
        self.h, self.name = h, name
        base = h.path(scenario) if scenario else h.tmp
        os.makedirs(base, exist_ok=True)
        self.state_dir = os.path.join(base, name + "-state")
        self.props = {"application.id": app, "bootstrap.servers": bootstrap,
                      "state.dir": self.state_dir, "catalog": catalog, "idle.close.ms": "1000",
                      "commit.interval.ms": "200", "kafka.session.timeout.ms": "6000"}
        self.props.update({k.replace("_", "."): str(v) for k, v in props.items()})
        self.config = os.path.join(base, name + ".properties")
        with open(self.config, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in self.props.items())
        self.log_path = os.path.join(base, name + ".log")
        self.proc = None
        self.log = None
        self.expected_exit = False
        self.starts = 0
        self.kills = 0
        self.crashes = []  # (exit code, last log lines) of exits the test did not cause

    def start(self):
        if self.log:
            self.log.close()
        self.log = open(self.log_path, "a")
        self.log.write(f"==== {stamp()} harness: start #{self.starts + 1} of {self.name}\n")
        self.log.flush()
        self.expected_exit = False
        self.proc = self.h.popen([self.h.meterflow, "run", "--config", self.config],
                                 stdout=subprocess.DEVNULL, stderr=self.log,
                                 cwd=os.path.dirname(self.config))
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.expected_exit = True
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1
        self._mark("SIGKILL")

    def freeze(self):
        """SIGSTOP: the process stops dead, like one starved of CPU; its group session expires."""
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)
        self._mark("SIGSTOP")

    def thaw(self):
        """SIGCONT: it goes on from where it stopped, not yet knowing it lost its partitions."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
        self._mark("SIGCONT")

    def starve(self, seconds, duty=0.1, period=0.5):
        """Lets the process run only `duty` of each `period` for `seconds` (SIGSTOP/SIGCONT), like
        one starved of CPU: everything it does, answering the group included, takes 1/duty as long."""
        self._mark(f"starved to {duty:.0%} for {seconds} s")
        end = time.time() + seconds
        while time.time() < end and self.alive():
            self.proc.send_signal(signal.SIGSTOP)
            time.sleep(period * (1 - duty))
            if self.alive():
                self.proc.send_signal(signal.SIGCONT)
            time.sleep(period * duty)
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
        self._mark("fed again")

    def stop(self, timeout=90):
        """SIGTERM; the exit code (None when it had to be killed after `timeout`)."""
        self.expected_exit = True
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self._mark(f"SIGTERM, exit {code}")
        return code

    def _mark(self, what):
        with open(self.log_path, "a") as f:
            f.write(f"==== {stamp()} harness: {what}\n")

    def reap(self):
        """True when the process ended on its own (a crash); records it."""
        if self.proc is None or self.expected_exit or self.proc.poll() is None:
            return False
        self.expected_exit = True
        self.crashes.append((self.proc.returncode, self.tail(8)))
        self._mark(f"exited on its own with {self.proc.returncode}")
        return True

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def tail(self, n, librdkafka=False):
        """The last n lines of the log; without librdkafka's own log lines unless asked."""
        lines = self.text().splitlines()
        if not librdkafka:
            lines = [line for line in lines
                     if not re.match(r"^%\d\|", line) and not line.startswith("meterflow: kafka:")]
        return "\n".join(lines[-n:])

    def progress(self):
        """(tasks, accepted, duplicates, {reason: n}) of the last progress line, or None."""
        lines = PROGRESS.findall(self.text())
        if not lines:
            return None
        _, tasks, accepted, duplicates, dead = lines[-1]
        reasons = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", dead)}
        return int(tasks), int(accepted), int(duplicates), reasons

    def count(self, pattern):
        return len(re.findall(pattern, self.text(), re.M))

    def metrics(self):
        """{series: value} from the instance's /metrics (it needs metrics_address=free_address())."""
        url = f"http://{self.props['metrics.address']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        return {name: float(value) for name, value in
                (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))}


def free_address():
    """127.0.0.1:<a port free now> (another process could take it before it is bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def produce(h, bootstrap, topic, path, key_field="subject", timeout=150, partition=None):
    extra = ["--partition", str(partition)] if partition is not None else []
    r = h.run("produce", "--bootstrap", bootstrap, "--topic", topic, "--key-field", key_field,
              "--timeout", "120s", *extra, path, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"produce {path}: {r.stderr.strip()}")
    m = re.search(r"produced (\d+) records", r.stdout)
    return int(m.group(1)) if m else 0


def kafka_totals(h, bootstrap):
    r = h.run("totals", "--bootstrap", bootstrap, "--topics", ",".join(OUTPUT_TOPICS),
              timeout=150)
    if r.stdout.strip():
        return json.loads(r.stdout)
    return {"totals": {}, "conflicts": ["(no output) " + r.stderr.strip()[-300:]], "topics": {}}


def offline(h, catalog, subscriptions, events, name):
    """The reference: (totals of ended periods, the ended (tenant, period_start) set, summary)."""
    d = h.path("offline-" + name)
    os.makedirs(d, exist_ok=True)
    r = h.run("rate", "--state", "memory", "--catalog", catalog, "--subscriptions", subscriptions,
              "--events", events, "--out", f"{d}/charges.jsonl", "--summary", f"{d}/summary.json",
              timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ended = set()
    with open(f"{d}/charges.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            if rec["period_end"] <= now:
                ended.add((rec["tenant"], rec["period_start"]))
    totals = json.loads(h.run("totals", f"{d}/charges.jsonl", timeout=300).stdout)["totals"]
    with open(f"{d}/summary.json") as f:
        summary = json.load(f)
    return restrict(totals, ended), ended, summary


def restrict(totals, ended):
    return {k: v for k, v in totals.items() if tuple(k.split("|")[:2]) in ended}


def diff(expected, got):
    keys = sorted(set(expected) | set(got))
    return "; ".join(f"{k}: expected {expected.get(k)}, got {got.get(k)}"
                     for k in keys if expected.get(k) != got.get(k))[:1500]


def unavailable(got):
    return sum(t.get("unavailable", 0) for t in got.get("topics", {}).values())


def wait_for_totals(h, bootstrap, expected, ended, timeout, on_poll=None):
    """Polls `totals` until the ended periods equal `expected`; (ok, last totals, seconds).
    `on_poll()` returning False (say, no instance left running) ends the wait early."""
    start = time.time()
    got = {"totals": {}}
    while time.time() - start < timeout:
        got = kafka_totals(h, bootstrap)
        if restrict(got["totals"], ended) == expected:
            return True, got, time.time() - start
        if on_poll and on_poll() is False:
            h.note("stopped waiting for the totals: no instance is running")
            break
        time.sleep(2)
    return False, got, time.time() - start


def write_lines(path, lines):
    with open(path, "w") as f:
        f.writelines(lines)
    return path
