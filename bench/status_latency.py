#!/usr/bin/env python3
"""Latency of `GET /status` on the control socket (issue 6): against an idle guardian, and
while an upgrade is under way (the guardian waits for a new master that the script holds
back). Prints median, p99 and max over N round trips each; run as root:

    python3 bench/status_latency.py [N]        # default 500; builds the release binary
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "supervisor")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 500

# A unicorn-like master: USR2 starts a copy of itself, which becomes ready (writes the pid
# file) only once `go` exists; QUIT retires a master.
APP = r'''dir=$1; pidfile=$2
trap 'env --default-signal=QUIT,INT /bin/sh "$0" "$dir" "$pidfile" copy &' USR2
trap 'kill $sleeper; exit 0' QUIT
sleep 600 & sleeper=$!
if [ "$3" = copy ]; then while [ ! -e "$dir/go" ]; do sleep 0.05; done; fi
echo $$ > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
while kill -0 $sleeper 2>/dev/null; do wait $sleeper; done
'''


def request(sock_path, method, path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sock_path)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def sample(sock_path, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        answer = request(sock_path, "GET", "/status")
        times.append((time.perf_counter() - start) * 1000)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    return times


def summary(label, times):
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"| {label} | {len(times)} | {statistics.median(times):.3f} | {p99:.3f} | {times[-1]:.3f} |")


def main():
    if os.geteuid() != 0:
        sys.exit("status_latency.py: run as root")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        name = f"bench-status-{os.getpid()}"
        script, pidfile = os.path.join(tmp, "app.sh"), os.path.join(tmp, "app.pid")
        with open(script, "w") as f:
            f.write(APP)
        sock_path = os.path.join(tmp, "control.sock")
        guardian = subprocess.Popen(
            [BIN, "--name", name, "--control", sock_path, "-P", pidfile,
             "--upgrade-timeout", "120", "--", "/bin/sh", script, tmp, pidfile],
            stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while not (os.path.exists(sock_path) and os.path.exists(pidfile)):
                if time.time() > deadline:
                    sys.exit("the guardian did not come up")
                time.sleep(0.01)
            print("| guardian state | round trips | median ms | p99 ms | max ms |")
            print("| --- | --- | --- | --- | --- |")
            summary("running, idle", sample(sock_path, N))
            upgrade = threading.Thread(target=request, args=(sock_path, "POST", "/upgrade"))
            upgrade.start()
            while b'"state":"upgrading"' not in request(sock_path, "GET", "/status"):
                time.sleep(0.01)
            summary("upgrading (waiting for the new master)", sample(sock_path, N))
            open(os.path.join(tmp, "go"), "w").close()
            upgrade.join(timeout=60)
        finally:
            guardian.terminate()
            guardian.wait(timeout=30)


if __name__ == "__main__":
    main()
