#!/usr/bin/env python3
"""Benchmark of the guardian against runit, daemontools, s6, supervisord and tini.

Run as root: `python3 bench/bench.py` (see --help). It installs the peers with apt-get
when they are missing (never starting their services), builds the guardian and the
child (`bench/child.c`), starts every guardian by hand in a scratch directory under a
mktemp dir, supervising the same tiny child, and writes `bench/results/latest.md` and
`bench/results/latest.json` (plus timestamped copies). It prints the Markdown.

Every time is CLOCK_MONOTONIC: the child reads it as its first instruction, this script
reads the same clock (time.monotonic_ns). Everything it starts is stopped by PID, and
every cgroup our guardian creates under a `bench-<pid>-*` name is removed at the end,
even after an interrupt.
"""

import argparse
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OURS = os.path.join(REPO, "target", "release", "supervisor")
PEER_PACKAGES = {  # binary -> Debian package
    "runsv": "runit",
    "supervise": "daemontools",
    "s6-supervise": "s6",
    "supervisord": "supervisor",
    "tini": "tini",
}
PEERS = ["runit", "daemontools", "s6", "supervisord", "tini"]
# Extra builds of ours (--also LABEL=PATH, e.g. a proposed fix), kind "alt:LABEL".
ALTS = {}
GUARDIANS = ["supervisor", *PEERS]  # main() adds the alternates after ours
RESTARTING = [g for g in GUARDIANS if g != "tini"]
NA_HANDOVER = {
    "runit": "cannot: runsv treats the exit of ./run as the service going down and starts ./run again; the daemon lives on unsupervised",
    "daemontools": "cannot: supervise restarts ./run when it exits; the daemon lives on unsupervised",
    "s6": "cannot: s6-supervise restarts ./run when it exits (s6-fghack is a separate workaround, not tracking)",
    "supervisord": "cannot: programs must not daemonize (its docs); it restarts the exited one (autorestart) and loses the daemon",
    "tini": "cannot: tini exits when its direct child exits, leaving the daemon behind",
}
# Reference programs of bench/floor (not guardians; memory figures only): what Rust's std,
# and std with clap, hold before any guardian code runs, built with our release profile.
FLOOR_TARGET = os.path.join(REPO, "target", "bench-floor")
REFERENCES = {  # kind -> binary, arguments, what it is
    "ref:std": ("floor-std", [], "Rust std alone"),
    "ref:clap": ("floor-clap", ["--name", "x", "--", "child", "arg"], "std + clap parsing 3 flags"),
}
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")
CGROUP_ROOTS = ["/sys/fs/cgroup/unified/supervisor", "/sys/fs/cgroup/supervisor"]


def now_ns():
    return time.monotonic_ns()


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- set-up


def install_peers():
    """apt-get install the missing peers with a policy-rc.d that forbids starting any
    service (kept if one exists already: it is the admin's, and ours would only say the
    same); --no-install-recommends keeps runit-run/runit-init and daemontools-run out."""
    missing = sorted({pkg for b, pkg in PEER_PACKAGES.items() if shutil.which(b) is None})
    if not missing:
        return
    log(f"installing {' '.join(missing)} (services are not started)")
    policy = "/usr/sbin/policy-rc.d"
    created = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# temporary, from bench/bench.py: start no service\nexit 101\n")
        os.chmod(policy, 0o755)
        created = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env, check=True)
    finally:
        if created:
            os.unlink(policy)


def build(scratch):
    if not os.environ.get("BENCH_NO_BUILD"):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=REPO, check=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "--target-dir", FLOOR_TARGET],
                       cwd=os.path.join(HERE, "floor"), check=True)
    child = os.path.join(scratch, "child")
    subprocess.run(["gcc", "-O2", "-static", "-Wall", "-o", child, os.path.join(HERE, "child.c")], check=True)
    return child


# ---------------------------------------------------------------------------- procfs


def read_stat(pid):
    """utime, stime, cutime, cstime in ms (clock ticks) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return [int(x) * TICK_MS for x in fields[11:15]]


def read_task_totals(pid):
    """(context switches, CPU ns) summed over every thread: /proc/PID/task/*/status
    voluntary+nonvoluntary, /proc/PID/task/*/schedstat run time (ns resolution)."""
    switches = cpu = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            cpu += int(f.read().split()[0])
    return switches, cpu


def read_usage_usec(cgroup):
    with open(os.path.join(cgroup, "cpu.stat")) as f:
        for line in f:
            if line.startswith("usage_usec "):
                return int(line.split()[1])
    raise RuntimeError(f"{cgroup}/cpu.stat: no usage_usec")


def read_memory(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                values[parts[0][:-1]] = int(parts[1])
    # Anonymous: the heap, stack and written data, which no file backs. File pages that
    # no other process maps count in USS too, but the kernel can drop and re-read them.
    return {"rss_kib": values["Rss"], "pss_kib": values["Pss"],
            "uss_kib": values["Private_Clean"] + values["Private_Dirty"],
            "anon_kib": values["Anonymous"]}


# ---------------------------------------------------------------------------- guardians


class Instance:
    """One guardian started by hand in its own scratch directory, supervising the child."""

    def __init__(self, bench, kind, mode, extra=(), live_stderr=False):
        self.bench, self.kind, self.mode = bench, kind, mode
        bench.serial += 1
        self.serial = bench.serial
        self.dir = os.path.join(bench.scratch, f"{kind.replace(':', '-')}-{bench.serial}")
        os.mkdir(self.dir)
        self.log = os.path.join(self.dir, "events.log")
        self.name = f"bench-{os.getpid()}-{bench.serial}"
        child = [bench.child, mode, self.log]
        if is_ours(kind):
            flags = ["-e", "-l", "1"] if mode == "crash" else ["-c", "--stable-after", "1"]
            cmd = [ALTS.get(kind, OURS), *flags, *extra, "--name", self.name, "--", *child]
        elif kind in ("runit", "daemontools", "s6"):
            svc = os.path.join(self.dir, "svc")
            os.mkdir(svc)
            # ./run is the child itself (a symlink): "run exec'ing the child" with no
            # shell in between, so every guardian starts the same binary directly.
            os.symlink(bench.child, os.path.join(svc, "run"))
            with open(os.path.join(svc, "child.conf"), "w") as f:
                f.write(f"{mode} {self.log}\n")
            self.svc = svc
            cmd = [{"runit": "runsv", "daemontools": "supervise", "s6": "s6-supervise"}[kind], svc]
        elif kind == "supervisord":
            conf = os.path.join(self.dir, "supervisord.conf")
            with open(conf, "w") as f:
                f.write(f"""[unix_http_server]
file={self.dir}/supervisor.sock
[supervisord]
nodaemon=true
logfile={self.dir}/supervisord.log
pidfile={self.dir}/supervisord.pid
childlogdir={self.dir}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:x]
command={' '.join(child)}
autorestart=true
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE
""")
            cmd = ["supervisord", "-n", "-c", conf]
        elif kind == "tini":
            cmd = ["tini", "-s", "--", *child]
        else:
            raise ValueError(kind)
        self.stderr_lines = []  # (arrival ns, line), when read live
        # Only the handover measure needs each stderr line as it arrives (a thread reads
        # a pipe). Everywhere else stderr goes to a file: a reader thread woken by a
        # guardian's log line would take a CPU on the very path being timed, and only
        # from the guardians that log (ours, supervisord).
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        stderr = subprocess.PIPE if live_stderr else open(self.stderr_path, "wb")
        try:
            # The child's --stamp logs E and execs the guardian: first start is measured
            # from the guardian's exec, not from this script's fork.
            self.proc = subprocess.Popen(
                [bench.child, "--stamp", self.log, shutil.which(cmd[0]), *cmd[1:]],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, start_new_session=True)
        finally:
            if not live_stderr:
                stderr.close()  # the guardian holds its own copy
        bench.instances.append(self)
        if live_stderr:
            self.reader = threading.Thread(target=self._read_stderr, daemon=True)
            self.reader.start()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.stderr_lines.append((now_ns(), raw.decode(errors="replace").rstrip("\n")))

    @property
    def pid(self):
        return self.proc.pid

    def events(self):
        try:
            with open(self.log) as f:
                return [(k, int(p), int(t)) for k, p, t in (line.split() for line in f if line.count(" ") == 2)]
        except FileNotFoundError:
            return []

    def wait_event(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if pred(e):
                    return e
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited ({self.proc.returncode}) while waiting; stderr: {self.stderr_tail()}")
            # The times come from the child's log, so a coarse poll costs no accuracy,
            # and this script wakes less often on the path it times.
            time.sleep(0.01)
        raise TimeoutError(f"{self.kind}: event not seen in {timeout}s; events {self.events()[-5:]}; stderr: {self.stderr_tail()}")

    def stderr_tail(self):
        if self.proc.stderr is not None:
            if self.proc.poll() is not None:
                self.reader.join(timeout=0.5)  # let it take the last lines
            lines = [line for _, line in self.stderr_lines]
        else:
            with open(self.stderr_path, errors="replace") as f:
                lines = f.read().splitlines()
        return " | ".join(lines[-5:])

    def started_children(self):
        return [e for e in self.events() if e[0] == "S"]

    def ask_stop(self):
        """What each tool documents as its stop: SIGTERM to ours, tini and supervisord;
        "dx" (down, then exit) on the control fifo for runit, daemontools and s6, which is
        what `sv exit`, `svc -dx` and `s6-svc -dx` write, without their exec time."""
        if self.kind in ("runit", "daemontools", "s6"):
            fd = os.open(os.path.join(self.svc, "supervise", "control"), os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"dx")
            os.close(fd)
        else:
            os.kill(self.pid, signal.SIGTERM)

    def stop(self, timeout=15.0):
        """Asks the guardian to stop; returns ns from the request until the guardian and
        every child it started have exited (pidfds: no polling delay)."""
        live = [p for _, p, _ in self.events() if os.path.exists(f"/proc/{p}")]
        fds = []
        for p in live:
            try:
                fds.append(os.pidfd_open(p))
            except ProcessLookupError:
                pass
        fds.append(os.pidfd_open(self.pid))
        t0 = now_ns()
        self.ask_stop()
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        pending = set(fds)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(100):
                pending.discard(fd)
                poller.unregister(fd)
        t1 = now_ns()
        for fd in fds:
            os.close(fd)
        if pending:
            raise TimeoutError(f"{self.kind} did not stop in {timeout}s")
        self.proc.wait()
        return t1 - t0


class Reference:
    """A reference program of bench/floor: it writes one line once it is ready, then waits
    for its stdin (a pipe of ours) to close."""

    def __init__(self, bench, kind):
        binary, args, _ = REFERENCES[kind]
        self.kind = kind
        self.proc = subprocess.Popen(
            [os.path.join(FLOOR_TARGET, "release", binary), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        bench.references.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def wait_ready(self, timeout=10.0):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"ready"):
            raise RuntimeError(f"{self.kind}: not ready in {timeout}s (exit status {self.proc.poll()})")

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=5)
        self.proc.stdout.close()


# ---------------------------------------------------------------------------- measures


def summary(samples_ns):
    ms = [s / 1e6 for s in samples_ns]
    if not ms:
        return None
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms), "n": len(ms)}


class Bench:
    def __init__(self, args):
        self.args = args
        self.scratch = tempfile.mkdtemp(prefix="supervisor-bench-")
        self.serial = 0
        self.instances = []
        self.references = []
        self.results = {g: {} for g in [*GUARDIANS, *REFERENCES]}
        self.raw = {g: {} for g in [*GUARDIANS, *REFERENCES]}

    def start_stop_cycles(self):
        """First start (guardian exec -> child's first instruction) and stop (request ->
        guardian and child gone), over --cycles fresh guardians of each kind, taken in
        rounds (one of each kind per round, in a shuffled order), so that a slow spell
        of the machine, or the slot after another guardian's stop, falls on every
        guardian alike rather than on whichever was measured then."""
        starts = {kind: [] for kind in GUARDIANS}
        stops = {kind: [] for kind in GUARDIANS}
        for round in range(self.args.cycles):
            log(f"start/stop cycles: round {round + 1} of {self.args.cycles}")
            for kind in random.Random(round).sample(GUARDIANS, len(GUARDIANS)):
                inst = Instance(self, kind, "sleep")
                e = inst.wait_event(lambda e: e[0] == "E")
                s = inst.wait_event(lambda e: e[0] == "S")
                starts[kind].append(s[2] - e[2])
                time.sleep(self.args.settle)
                stops[kind].append(inst.stop())
        for kind in GUARDIANS:
            self.raw[kind]["first_start_ns"] = starts[kind]
            self.raw[kind]["stop_ns"] = stops[kind]
            self.results[kind]["first_start"] = summary(starts[kind])
            self.results[kind]["stop"] = summary(stops[kind])

    def restart_latency(self, kind):
        """kill -9 of a child that has lived > 1 s -> the new child's first instruction."""
        inst = Instance(self, kind, "sleep")
        samples = []
        cur = inst.wait_event(lambda e: e[0] == "S")
        for _ in range(self.args.restarts):
            age = (now_ns() - cur[2]) / 1e9
            if age < self.args.min_age:
                time.sleep(self.args.min_age - age)
            t0 = now_ns()
            os.kill(cur[1], signal.SIGKILL)
            old = cur[1]
            cur = inst.wait_event(lambda e, old=old: e[0] == "S" and e[1] != old and e[2] > t0)
            samples.append(cur[2] - t0)
        inst.stop()
        self.raw[kind]["restart_ns"] = samples
        self.results[kind]["restart"] = summary(samples)

    def idle_and_memory(self):
        """All guardians at once, each with a healthy child, for --idle seconds: their own
        context switches and CPU time; memory at the end (smaps_rollup), alone and again
        once a second guardian of the same kind runs. The reference programs of
        bench/floor (when built) run alongside, for their memory only."""
        insts = [Instance(self, kind, "sleep") for kind in GUARDIANS]
        refs = [Reference(self, kind) for kind in REFERENCES] if self.floor_built() else []
        for inst in insts:
            inst.wait_event(lambda e: e[0] == "S")
        for ref in refs:
            ref.wait_ready()
        time.sleep(2.0)  # let start-up work (supervisord's, ours) finish before counting
        before = {i.kind: (read_task_totals(i.pid), now_ns()) for i in insts}
        time.sleep(self.args.idle)
        for inst in insts:
            (sw0, cpu0), t0 = before[inst.kind]
            sw1, cpu1 = read_task_totals(inst.pid)
            seconds = (now_ns() - t0) / 1e9
            mem = read_memory(inst.pid)
            self.results[inst.kind]["idle"] = {"seconds": seconds, "context_switches": sw1 - sw0, "cpu_ms": (cpu1 - cpu0) / 1e6}
            self.results[inst.kind]["memory"] = mem
            self.raw[inst.kind]["idle"] = {"before": [sw0, cpu0], "after": [sw1, cpu1], "seconds": seconds}
        for ref in refs:
            self.results[ref.kind]["memory"] = read_memory(ref.pid)
        # A second guardian of each kind: the binary's pages are now shared, so USS is
        # what each further supervised service costs.
        twins = [Instance(self, inst.kind, "sleep") for inst in insts]
        ref_twins = [Reference(self, ref.kind) for ref in refs]
        for twin in twins:
            twin.wait_event(lambda e: e[0] == "S")
        for twin in ref_twins:
            twin.wait_ready()
        time.sleep(0.5)
        for inst in insts + refs:
            self.results[inst.kind]["memory"]["uss_kib_two_running"] = read_memory(inst.pid)["uss_kib"]
        for inst in insts + twins + refs + ref_twins:
            inst.stop()

    def floor_built(self):
        present = all(os.path.exists(os.path.join(FLOOR_TARGET, "release", b)) for b, _, _ in REFERENCES.values())
        if not present:
            log("bench/floor is not built (BENCH_NO_BUILD): no reference rows")
        return present

    def crash_loop(self, kind):
        """A child that exits 1 at once, for --crash seconds: restarts, the guardian's
        CPU (schedstat, ns) and the whole tree's: once the guardian runs, this moves it
        into a cgroup2 leaf of ours, so that it and every child it forks from then on
        count in that leaf's cpu.stat usage_usec; for our guardian, whose children go to
        its app cgroup, that cgroup's usage is added. (cutime+cstime is kept in the raw
        data too, but its 10 ms ticks are too coarse for these children.)"""
        inst = Instance(self, kind, "crash")
        inst.wait_event(lambda e: e[0] == "S")
        tree = os.path.join(self.cgroup2_base(), f"bench-{os.getpid()}-tree-{inst.serial}")
        os.mkdir(tree)
        with open(os.path.join(tree, "cgroup.procs"), "w") as f:
            f.write(str(inst.pid))
        app = os.path.join(self.cgroup2_base(), inst.name) if is_ours(kind) else None

        def tree_usage():
            usage = read_usage_usec(tree)
            if app:
                usage += read_usage_usec(app)
            return usage

        time.sleep(0.1)
        app_ino = os.stat(app).st_ino if app else None
        n0 = len(inst.started_children())
        _, cpu0 = read_task_totals(inst.pid)
        st0, u0 = read_stat(inst.pid), tree_usage()
        t0 = now_ns()
        time.sleep(self.args.crash)
        n1 = len(inst.started_children())
        _, cpu1 = read_task_totals(inst.pid)
        st1, u1 = read_stat(inst.pid), tree_usage()
        seconds = (now_ns() - t0) / 1e9
        same_app_cgroup = (os.stat(app).st_ino == app_ino) if app else None
        inst.stop()
        os.rmdir(tree)
        guardian_ms = (cpu1 - cpu0) / 1e6
        self.results[kind]["crash"] = {
            "seconds": seconds, "restarts": n1 - n0, "guardian_cpu_ms": guardian_ms,
            "tree_cpu_ms": (u1 - u0) / 1e3,
        }
        self.raw[kind]["crash"] = {"stat_before": st0, "stat_after": st1, "schedstat_before": cpu0,
                                   "schedstat_after": cpu1, "tree_usage_usec": [u0, u1],
                                   "app_cgroup_kept": same_app_cgroup}

    def cgroup2_base(self):
        """Where our guardian makes its cgroups (the cgroup2 mount's /supervisor): the
        bench's own leaves go beside them, named bench-<pid>-tree-N."""
        for root in CGROUP_ROOTS:
            if os.path.isdir(root):
                return root
        raise RuntimeError(f"none of {CGROUP_ROOTS} exists")

    def handover(self):
        """Ours only (no peer can follow a daemonizing app). The child forks and its
        parent exits 0, logging X with its exit time; we send USR1 to the new process to
        make it do so again. Latency: X's time -> arrival of the guardian's
        `main PID A → B` line on its stderr pipe, read by a thread that timestamps each
        line (so the figure includes a pipe write and a Python thread wake-up: 0.1 to 0.2 ms,
        more on idle CPUs; bench/README.md)."""
        for kind in GUARDIANS:
            if is_ours(kind):
                self.handover_of(kind)

    def handover_of(self, kind):
        inst = Instance(self, kind, "daemon", live_stderr=True)
        samples = []
        main = inst.wait_event(lambda e: e[0] == "S")[1]
        for i in range(self.args.restarts + 1):
            if i > 0:
                os.kill(main, signal.SIGUSR1)
            x = inst.wait_event(lambda e, main=main: e[0] == "X" and e[1] == main)
            d = self._next_d(inst, x)
            pattern = re.compile(rf"main PID {x[1]} \u2192 (\d+)")
            deadline = time.monotonic() + 5
            seen = None
            while seen is None and time.monotonic() < deadline:
                for t, line in list(inst.stderr_lines):
                    m = pattern.search(line)
                    if m:
                        seen = (t, int(m.group(1)))
                        break
                else:
                    time.sleep(0.002)
            if seen is None:
                raise TimeoutError(f"no handover line for {x[1]}; stderr: {inst.stderr_tail()}")
            if seen[1] != d[1]:
                raise RuntimeError(f"guardian adopted {seen[1]}, the successor is {d[1]}")
            samples.append(seen[0] - x[2])
            main = d[1]
        inst.stop()
        self.raw[kind]["handover_ns"] = samples
        self.results[kind]["handover"] = summary(samples)

    def _next_d(self, inst, x):
        """The D line of the process that X's process forked: the first D logged after
        the previous one by a PID other than X's."""
        seen_ds = getattr(inst, "_seen_ds", set())
        d = inst.wait_event(lambda e: e[0] == "D" and e[1] != x[1] and e not in seen_ds)
        seen_ds.add(d)
        inst._seen_ds = seen_ds
        return d

    # ------------------------------------------------------------------------ cleanup

    def cleanup(self):
        """Stops by PID whatever is still running, then removes our cgroups and locks."""
        for ref in self.references:
            if ref.proc.poll() is None:
                ref.proc.kill()
                ref.proc.wait()
        for inst in self.instances:
            if inst.proc.poll() is None:
                try:
                    os.kill(inst.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                inst.proc.wait()
            for _, p, _ in inst.events():
                try:
                    if os.readlink(f"/proc/{p}/exe") == self.child:
                        os.kill(p, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    pass
        prefix = f"bench-{os.getpid()}-"
        for root in CGROUP_ROOTS:
            if not os.path.isdir(root):
                continue
            for name in os.listdir(root):
                if not name.startswith(prefix):
                    continue
                path = os.path.join(root, name)
                for _ in range(50):
                    try:
                        with open(os.path.join(path, "cgroup.procs")) as f:
                            pids = [int(x) for x in f.read().split()]
                        for p in pids:
                            os.kill(p, signal.SIGKILL)
                        os.rmdir(path)
                        break
                    except (ProcessLookupError, OSError):
                        time.sleep(0.05)
        for inst in self.instances:
            lock = f"/run/supervisor/{inst.name}.lock"
            if is_ours(inst.kind) and os.path.exists(lock):
                os.unlink(lock)
        if not self.args.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)


# ---------------------------------------------------------------------------- report


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def figures(r):
    """One flat dict of the figures compared (lower is better for each)."""
    g = lambda *ks: _get(r, ks)
    return {
        "restart median ms": g("restart", "median_ms"),
        "restart min ms": g("restart", "min_ms"),
        "first start median ms": g("first_start", "median_ms"),
        "first start min ms": g("first_start", "min_ms"),
        "idle wakeups": g("idle", "context_switches"),
        "idle CPU ms": g("idle", "cpu_ms"),
        "RSS KiB": g("memory", "rss_kib"),
        "PSS KiB": g("memory", "pss_kib"),
        "USS KiB": g("memory", "uss_kib"),
        "USS KiB, 2 running": g("memory", "uss_kib_two_running"),
        "anonymous KiB": g("memory", "anon_kib"),
        "crash guardian CPU ms": g("crash", "guardian_cpu_ms"),
        "crash tree CPU ms": g("crash", "tree_cpu_ms"),
        "crash tree CPU per restart ms": (g("crash", "tree_cpu_ms") / g("crash", "restarts"))
        if g("crash", "restarts") else None,
        "stop median ms": g("stop", "median_ms"),
        "stop min ms": g("stop", "min_ms"),
    }


def _get(d, ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return None
        d = d[k]
    return d


def lat(r, key):
    s = r.get(key)
    if not s:
        return "n/a"
    return f"{s['median_ms']:.2f} ({s['min_ms']:.2f}–{s['max_ms']:.2f})"


def render(bench, machine):
    a = bench.args
    out = []
    out.append(f"Run {machine['date']} on {machine['nproc']} CPUs, {machine['mem_total']} RAM, "
               f"kernel {machine['kernel']}; {a.restarts} restarts, {a.cycles} start/stop cycles, "
               f"idle {a.idle:g} s, crash loop {a.crash:g} s. Times in ms: median (min–max).\n")
    out.append("| guardian | restart after kill -9 | first start | stop (tree gone) | handover | "
               f"idle wakeups / {a.idle:g} s | idle CPU ms | RSS KiB | PSS KiB | USS KiB | USS KiB, 2 running | anonymous KiB | "
               f"crash loop restarts / {a.crash:g} s | crash guardian CPU ms | crash tree CPU ms |")
    out.append("|" + " --- |" * 15)
    # The reference programs have memory figures only; every other cell of theirs is n/a.
    for kind in [*GUARDIANS, *(k for k in REFERENCES if bench.results[k])]:
        r = bench.results[kind]
        idle, mem, crash = r.get("idle", {}), r.get("memory", {}), r.get("crash")
        out.append("| " + " | ".join([
            LABELS[kind], lat(r, "restart"), lat(r, "first_start"), lat(r, "stop"), lat(r, "handover"),
            fmt(idle.get("context_switches")), fmt(idle.get("cpu_ms")),
            fmt(mem.get("rss_kib")), fmt(mem.get("pss_kib")), fmt(mem.get("uss_kib")),
            fmt(mem.get("uss_kib_two_running")), fmt(mem.get("anon_kib")),
            fmt(crash["restarts"]) if crash else "n/a",
            fmt(crash["guardian_cpu_ms"], 1) if crash else "n/a",
            fmt(crash["tree_cpu_ms"], 1) if crash else "n/a",
        ]) + " |")
    out.append("")
    out.append("Ours against the best peer of this run on each figure (ratio < 1: ours is lower, i.e. better):\n")
    out.append("| figure | ours | best peer | ratio |")
    out.append("| --- | --- | --- | --- |")
    ratios = {}
    ours = figures(bench.results["supervisor"])
    for fig, value in ours.items():
        peers = [(figures(bench.results[k])[fig], k) for k in PEERS]
        peers = [(v, k) for v, k in peers if v is not None]
        if value is None or not peers:
            continue
        best, who = min(peers)
        ratio = value / best if best else (1.0 if value == 0 else float("inf"))
        ratios[fig] = {"ours": value, "best_peer": who, "best": best, "ratio": ratio}
        out.append(f"| {fig} | {fmt(value)} | {fmt(best)} ({LABELS[who]}) | {'∞' if ratio == float('inf') else fmt(ratio)} |")
    out.append("")
    out.append("Handover: " + "; ".join(f"{LABELS[k]}: {v}" for k, v in NA_HANDOVER.items()) + ".")
    out.append("tini does not restart: restart and crash loop are n/a.")
    out.append("")
    out.append(targets(bench.results, ratios))
    return "\n".join(out) + "\n", ratios


LABELS = {
    "supervisor": "**supervisor** (ours)",
    "runit": "runit `runsv`",
    "daemontools": "daemontools `supervise`",
    "s6": "s6 `s6-supervise`",
    "supervisord": "supervisord",
    "tini": "tini `-s`",
    **{kind: f"*reference, not a guardian:* {what}" for kind, (_, _, what) in REFERENCES.items()},
}


def is_ours(kind):
    return kind == "supervisor" or kind in ALTS


def targets(results, ratios):
    r = results
    o = r["supervisor"]
    lines = ["| target | measured | met |", "| --- | --- | --- |"]

    def row(name, measured, ok):
        lines.append(f"| {name} | {measured} | {'yes' if ok else ('**no**' if ok is not None else 'n/a')} |")

    peers_restart = [_get(r[k], ("restart", "median_ms")) for k in RESTARTING if k in PEERS]
    peers_restart = [x for x in peers_restart if x is not None]
    ours_restart = _get(o, ("restart", "median_ms"))
    if ours_restart is not None and peers_restart:
        row("restart median ≤ best peer's", f"{ours_restart:.2f} ms vs {min(peers_restart):.2f} ms", ours_restart <= min(peers_restart))
    idle = o.get("idle")
    if idle:
        row(f"idle: 0 wakeups, 0 CPU in {idle['seconds']:.0f} s", f"{idle['context_switches']} wakeups, {idle['cpu_ms']:.3f} ms",
            idle["context_switches"] == 0 and idle["cpu_ms"] == 0)
    mem = o.get("memory")
    if mem:
        # USS and RSS count the code pages a lone guardian keeps mapped (of its binary and
        # of glibc); the two rows after them count only what is each guardian's own
        # (README.md, Performance, "Memory").
        row("USS ≤ 350 KiB, a lone guardian", f"{mem['uss_kib']} KiB", mem["uss_kib"] <= 350)
        row("RSS ≤ 2048 KiB", f"{mem['rss_kib']} KiB", mem["rss_kib"] <= 2048)
        if mem.get("anon_kib") is not None:
            row("own memory: anonymous ≤ 350 KiB", f"{mem['anon_kib']} KiB", mem["anon_kib"] <= 350)
        if mem.get("uss_kib_two_running") is not None:
            row("each further guardian: USS ≤ 350 KiB once a second one shares the binary",
                f"{mem['uss_kib_two_running']} KiB", mem["uss_kib_two_running"] <= 350)
        for kind in REFERENCES:
            ref = r[kind].get("memory")
            if ref:
                row(f"(for reference) {REFERENCES[kind][2]}, built like ours (`bench/floor`): USS, RSS",
                    f"{ref['uss_kib']} KiB, {ref['rss_kib']} KiB", None)
    fs, fr = _get(o, ("first_start", "median_ms")), _get(r["runit"], ("first_start", "median_ms"))
    if fs is not None and fr:
        row("first start ≤ 1.2 × runit's", f"{fs:.2f} ms vs {fr:.2f} ms ({fs / fr:.2f}×)", fs <= 1.2 * fr)
    oc, rc = o.get("crash"), r["runit"].get("crash")
    if oc and rc:
        row("crash loop guardian CPU < runit's", f"{oc['guardian_cpu_ms']:.1f} ms vs {rc['guardian_cpu_ms']:.1f} ms", oc["guardian_cpu_ms"] < rc["guardian_cpu_ms"])
        row("crash loop tree CPU < runit's", f"{oc['tree_cpu_ms']:.1f} ms vs {rc['tree_cpu_ms']:.1f} ms", oc["tree_cpu_ms"] < rc["tree_cpu_ms"])
    so, s6 = _get(o, ("stop", "median_ms")), _get(r["s6"], ("stop", "median_ms"))
    if so is not None and s6:
        row("stop ≤ 1.2 × s6's", f"{so:.2f} ms vs {s6:.2f} ms ({so / s6:.2f}×)", so <= 1.2 * s6)
    return "Targets (ours):\n\n" + "\n".join(lines)


def machine_info():
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout
    total = mem.splitlines()[1].split()[1] if len(mem.splitlines()) > 1 else "?"
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count(), "free_h": mem,
            "mem_total": total, "kernel": platform.release(),
            "versions": {b: _version(b) for b in PEER_PACKAGES}}


def _version(binary):
    pkg = PEER_PACKAGES[binary]
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
    return out.stdout or "?"


def on_sigterm(*_):
    raise KeyboardInterrupt  # so that cleanup() runs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--idle", type=float, default=60, help="seconds of the idle measure (default 60)")
    p.add_argument("--crash", type=float, default=30, help="seconds of the crash loop (default 30)")
    p.add_argument("--restarts", type=int, default=20, help="kill -9 restarts per guardian (default 20)")
    p.add_argument("--cycles", type=int, default=20, help="start/stop cycles per guardian (default 20)")
    p.add_argument("--min-age", type=float, default=1.2, help="age of the child before kill -9 (default 1.2 s, > 1 s)")
    p.add_argument("--settle", type=float, default=1.2, help="age of the child before the stop in a cycle (default 1.2 s: runsv and supervise sleep out the rest of 1 s after a shorter run)")
    p.add_argument("--only", default="", help="comma list of phases: cycles,restart,idle,crash,handover")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="directory of the results")
    p.add_argument("--also", action="append", default=[], metavar="LABEL=PATH",
                   help="also measure another build of ours (a proposed change), as an extra row")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()
    for spec in args.also:
        label, path = spec.split("=", 1)
        kind = f"alt:{label}"
        ALTS[kind] = os.path.abspath(path)
        LABELS[kind] = f"supervisor, {label} (not in src/)"
        GUARDIANS.insert(len(ALTS), kind)
        RESTARTING.insert(len(ALTS), kind)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (our guardian creates cgroups; peers are installed with apt-get)")
    install_peers()
    bench = Bench(args)
    phases = set(args.only.split(",")) if args.only else {"cycles", "restart", "idle", "crash", "handover"}
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        bench.child = build(bench.scratch)
        log(f"scratch {bench.scratch}")
        if "cycles" in phases:
            bench.start_stop_cycles()
        if "restart" in phases:
            for kind in RESTARTING:
                log(f"restart latency: {kind}")
                bench.restart_latency(kind)
        if "handover" in phases:
            log("handover: supervisor")
            bench.handover()
        if "idle" in phases:
            log(f"idle and memory: all guardians at once, {args.idle:g} s")
            bench.idle_and_memory()
        if "crash" in phases:
            for kind in RESTARTING:
                log(f"crash loop: {kind}, {args.crash:g} s")
                bench.crash_loop(kind)
    finally:
        bench.cleanup()
    machine = machine_info()
    md, ratios = render(bench, machine)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = {"machine": machine, "args": vars(args), "results": bench.results, "ratios": ratios, "raw": bench.raw}
    for name in (f"{stamp}.md", "latest.md"):
        with open(os.path.join(args.out, name), "w") as f:
            f.write(md)
    for name in (f"{stamp}.json", "latest.json"):
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(data, f, indent=1)
    print(md)


if __name__ == "__main__":
    main()
