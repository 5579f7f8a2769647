#!/usr/bin/env python3
"""Side-by-side WebSocket server benchmark on this machine.

Starts each server pinned to core 0, drives it with ../shared/bench/wsload pinned to core 1,
interleaving servers round-robin (A B A B ...), a fresh server process per run. Prints, per
workload, each server's median (min-max) of the server's CPU per unit of work and throughput,
and the median of the per-round ratios hibiki/peer. Writes every raw wsload result as JSON.

Loopback only; every run is bounded by wsload's --duration. Not a test: never fails on noise.
   /usr/bin/python3 bench/compare.py [--rounds 5] [--workloads echo32,echo16k,broadcast,connect,idle]
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WSLOAD_DIR = os.path.join(ROOT, "..", "shared", "bench", "wsload")

WORKLOADS = {
    "echo32": (["--mode", "echo", "--connections", "100", "--size", "32", "--duration", "5",
                "--warmup", "1"], "echo", "msgs_per_s", "µs per message"),
    "echo16k": (["--mode", "echo", "--connections", "100", "--size", "16384", "--binary",
                 "--duration", "5", "--warmup", "1"], "echo", "msgs_per_s", "µs per message"),
    "broadcast": (["--mode", "broadcast", "--connections", "1000", "--publishers", "1", "--rate",
                   "0", "--inflight", "32", "--duration", "5", "--payload-template",
                   '{"action":"message","message":"{ts}"}'], "chat", "deliveries_per_s",
                  "µs per delivery"),
    "connect": (["--mode", "connect", "--connections", "50", "--source-ips", "8", "--duration",
                 "5"], "echo", "handshakes_per_s", "µs per handshake"),
    "idle": (["--mode", "idle", "--connections", "10000", "--duration", "3"], "echo",
             "connected", "bytes of RSS per connection"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(name, kind, port):
    if name == "hibiki":
        job = "chat" if kind == "chat" else "echo"
        command = [os.path.join(ROOT, "build", "release", "hibiki"), job, "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warn", "--idle-timeout", "0",
                   "--max-message", str(16 << 20), "--max-connections", "200000",
                   "--max-connections-per-ip", "0"]
        if job == "chat":
            # Same work as the anchors: no history on disk, no per-client rate limit.
            command += ["--db", ":memory:", "--rate-limit", "0"]
        return command
    if name == "node-ws":
        return ["node", os.path.join(ROOT, "bench", "peers", "node-ws-server.mjs"), str(port)]
    raise ValueError(name)


def url_for(name, kind, port):
    path = "/ws" if (name == "hibiki" and kind == "chat") else ("/chat" if kind == "chat" else "/echo")
    return f"ws://127.0.0.1:{port}{path}"


def raise_fd_limit():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_listening(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run_one(wsload, name, workload):
    args, kind, _, _ = WORKLOADS[workload]
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "0"] + server_command(name, kind, port),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=raise_fd_limit)
    try:
        if not wait_listening(port):
            return {"error": "server did not listen"}
        time.sleep(0.3)
        out = subprocess.run(["taskset", "-c", "1", wsload, *args, "--server-pid", str(server.pid),
                              "-q", url_for(name, kind, port)], capture_output=True, text=True,
                             timeout=180)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        return json.loads(line)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def figure(result, workload):
    if workload == "idle":
        return result.get("bytes_per_conn")
    return result.get("server_cpu_us_per_unit")


def fmt(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    def one(v):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    if len(values) == 1:
        return one(values[0])
    return f"{one(statistics.median(values))} ({one(min(values))}–{one(max(values))})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--servers", default="hibiki,node-ws")
    parser.add_argument("--json", default=os.path.join(ROOT, "build", "bench-results.json"))
    options = parser.parse_args()
    wsload = subprocess.run([os.path.join(WSLOAD_DIR, "build.sh")], capture_output=True,
                            text=True, check=True).stdout.strip().splitlines()[-1]
    servers = options.servers.split(",")
    results = {}
    for workload in options.workloads.split(","):
        for round_index in range(options.rounds):
            for name in servers:
                r = run_one(wsload, name, workload)
                results.setdefault(workload, {}).setdefault(name, []).append(r)
                print(f"{workload} round {round_index + 1} {name}: {figure(r, workload)} "
                      f"(client cpu {r.get('client_cpu_pct')}%, errors {r.get('errors')})",
                      file=sys.stderr)
    os.makedirs(os.path.dirname(options.json), exist_ok=True)
    with open(options.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"| workload | unit | " + " | ".join(servers) + " | " +
          " | ".join(f"hibiki/{s}" for s in servers[1:]) + " | throughput " +
          " / ".join(servers) + " | wsload CPU % |")
    print("|" + "---|" * (4 + 2 * (len(servers) - 1) + 1))
    for workload, per_server in results.items():
        _, _, rate_key, unit = WORKLOADS[workload]
        cells = [fmt([figure(r, workload) for r in per_server[s]]) for s in servers]
        ratios = []
        for s in servers[1:]:
            pairs = [(figure(a, workload), figure(b, workload))
                     for a, b in zip(per_server["hibiki"], per_server[s])]
            pairs = [a / b for a, b in pairs if a and b]
            ratios.append(fmt(pairs))
        rates = " / ".join(fmt([r.get(rate_key) for r in per_server[s]]) for s in servers)
        cpu = " / ".join(fmt([r.get("client_cpu_pct") for r in per_server[s]]) for s in servers)
        print(f"| {workload} | {unit} | " + " | ".join(cells) + " | " + " | ".join(ratios) +
              f" | {rates} | {cpu} |")


if __name__ == "__main__":
    main()
