"""Gateway benchmark (docs/BENCHMARKS.md, "Gateway"): messages routed per second through
`hibiki gateway` to a fast keep-alive HTTP backend and back, at --threads 1 and 2, and the
gateway's CPU per routed message. Never a timed test.

  /usr/bin/python3 bench/gateway.py [--rounds 3] [--threads 1,2] [--connections 100]
                                    [--duration 10] [--json FILE]

Each run starts, on free loopback ports:
- bench/gateway_backend.c (compiled into build/bench/): one epoll thread answering every POST
  with the event's "body" unescaped, so the two-way route sends each client its own message;
- `hibiki gateway --threads N --registry :memory: --log-level warn` with one route,
  `$default` -> the backend, `route_response = true`;
- ../shared/bench/wsload in echo mode: --connections clients, each with --inflight messages of
  --size bytes outstanding; a message counts when the identical text comes back.

Per run: messages/s, p50/p99 round trip (wsload), the gateway's CPU per routed message
(wsload --server-pid: user+sys of all its threads from /proc/PID/stat over the measured
window), the backend's CPU per request and its share of a core, wsload's own share, and the
machine's idle share (/proc/stat). A reference configuration, `hibiki echo --threads 1` driven
by the same wsload command (no backend), gives the same machine's cost of a plain WebSocket
round trip in the same minutes (--no-echo leaves it out). Configurations are interleaved in
every round (the order alternates), so ratios are taken between runs made side by side.
Nothing is pinned: the gateway, the backend and wsload share the machine's cores.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from compare import free_port, hibiki_command, raise_fd_limit, wait_listening

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WSLOAD_DIR = os.path.join(ROOT, "..", "shared", "bench", "wsload")
HIBIKI = os.path.join(ROOT, "build", "release", "hibiki")
BACKEND_SOURCE = os.path.join(ROOT, "bench", "gateway_backend.c")
BACKEND = os.path.join(ROOT, "build", "bench", "gateway_backend")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

CONFIG = """\
[gateway]
host = "127.0.0.1"
idle_timeout_s = 0

[management]
host = "127.0.0.1"

[routes."$default"]
integration = "http://127.0.0.1:{backend_port}/"
route_response = true
"""


def build_backend():
    """Compiles the backend when it is missing or older than its source."""
    if (os.path.exists(BACKEND) and
            os.path.getmtime(BACKEND) >= os.path.getmtime(BACKEND_SOURCE)):
        return BACKEND
    os.makedirs(os.path.dirname(BACKEND), exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", BACKEND, BACKEND_SOURCE], check=True,
                   timeout=120)
    return BACKEND


def cpu_seconds(pid):
    """User + system CPU of a process so far (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_ticks():
    """(idle, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return values[3] + values[4], sum(values[:8])


def backend_counts(port):
    """(requests answered, connections accepted) by the backend so far: its answer to a GET,
    made on a connection of its own (counted)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, body = data.split(b"\r\n\r\n", 1)
                length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")][0])
                if len(body) >= length:
                    requests, connections = body[:length].split()
                    return int(requests), int(connections)
    raise RuntimeError("backend gave no count")


class Processes:
    """Everything a run started, stopped by PID at the end."""

    def __init__(self):
        self.started = []

    def start(self, command, stdout=subprocess.DEVNULL):
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.DEVNULL,
                                   preexec_fn=raise_fd_limit, text=True)
        self.started.append(process)
        return process

    def stop_all(self):
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.started.clear()


def run_one(options, wsload, hibiki, backend_binary, name):
    """One run of configuration `name`: "gateway-tN" (the gateway with N loops, the backend
    behind it) or "echo" (hibiki echo, one loop, no backend)."""
    procs = Processes()
    directory = tempfile.mkdtemp(prefix="hibiki-bench-gateway-")
    try:
        port = free_port()
        backend = None
        if name == "echo":
            gateway = procs.start(hibiki_command(hibiki, "echo", port, 1))
        else:
            threads = int(name.split("-t")[1])
            backend = procs.start([backend_binary, "0"], stdout=subprocess.PIPE)
            line = backend.stdout.readline().split()
            if len(line) != 2 or line[0] != "port":
                return {"error": "backend did not start"}
            backend_port = int(line[1])
            config = os.path.join(directory, "gateway.toml")
            with open(config, "w") as f:
                f.write(CONFIG.format(backend_port=backend_port))
            gateway = procs.start([hibiki, "gateway", "--config", config, "--threads",
                                   str(threads), "--port", str(port), "--management-port",
                                   str(free_port()), "--registry", ":memory:", "--log-level",
                                   "warn"])
        if not wait_listening(port):
            return {"error": f"{name} did not start"}
        time.sleep(0.3)

        command = [wsload, "--mode", "echo", "--connections", str(options.connections),
                   "--size", str(options.size), "--inflight", str(options.inflight),
                   "--duration", str(options.duration), "--warmup", str(options.warmup),
                   "--server-pid", str(gateway.pid), "-q", f"ws://127.0.0.1:{port}/"]
        # The backend's and the machine's figures span the whole wsload run (connecting and
        # warm-up included); per request they compare with the measured window's.
        requests_before, connections_before = (backend_counts(backend_port) if backend
                                                else (0, 0))
        backend_cpu_before = cpu_seconds(backend.pid) if backend else 0
        gateway_cpu_before = cpu_seconds(gateway.pid)
        idle_before, total_before = machine_ticks()
        started = time.time()
        out = subprocess.run(command, capture_output=True, text=True,
                             timeout=options.duration + options.warmup + 60).stdout
        elapsed = time.time() - started
        idle_after, total_after = machine_ticks()
        gateway_cpu = cpu_seconds(gateway.pid) - gateway_cpu_before
        lines = out.strip().splitlines()
        result = json.loads(lines[-1]) if lines else {"error": "wsload printed nothing"}
        result["configuration"] = name
        result["machine_idle_pct"] = (100 * (idle_after - idle_before) /
                                      max(total_after - total_before, 1))
        if backend is None:
            return result
        backend_cpu = cpu_seconds(backend.pid) - backend_cpu_before
        requests_after, connections_after = backend_counts(backend_port)
        requests = requests_after - requests_before
        result["backend_requests"] = requests
        # The gateway's connections to the backend opened during the run (the second GET's
        # own connection taken out): keep-alive means no more than its connection limit.
        result["backend_connections_opened"] = connections_after - connections_before - 1
        result["backend_cpu_pct"] = 100 * backend_cpu / elapsed
        result["backend_cpu_us_per_request"] = 1e6 * backend_cpu / requests if requests else None
        # The gateway over the same span as the backend: a check on wsload's figure.
        result["gateway_cpu_us_per_request_whole_run"] = (1e6 * gateway_cpu / requests
                                                          if requests else None)
        return result
    finally:
        procs.stop_all()
        shutil.rmtree(directory, ignore_errors=True)


def spread_of(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def number(value, digits=3):
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def show(s, digits=3):
    if not s:
        return "n/a"
    return (f"{number(s['median'], digits)} ({number(s['min'], digits)}-"
            f"{number(s['max'], digits)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="gateway loops, comma-separated")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--inflight", type=int, default=1,
                        help="messages outstanding per client (above 1 the gateway may answer "
                             "out of order, which wsload counts as mismatches)")
    parser.add_argument("--size", type=int, default=32, help="message bytes")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-echo", action="store_true",
                        help="leave out the hibiki echo reference runs")
    parser.add_argument("--wsload", default=None)
    parser.add_argument("--hibiki", default=HIBIKI)
    parser.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "gateway.json"))
    options = parser.parse_args()
    binary = options.wsload or subprocess.run(
        [os.path.join(WSLOAD_DIR, "build.sh")], capture_output=True, text=True,
        check=True).stdout.strip().splitlines()[-1]
    backend = build_backend()
    configurations = [f"gateway-t{int(t)}" for t in options.threads.split(",")]
    if not options.no_echo:
        configurations.append("echo")
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
              "cores": os.cpu_count(), "load_average_at_start": os.getloadavg(),
              "options": vars(options), "runs": {name: [] for name in configurations}}

    for round_index in range(options.rounds):
        # Alternate the order so that neither configuration always runs first.
        order = configurations if round_index % 2 == 0 else list(reversed(configurations))
        for name in order:
            r = run_one(options, binary, options.hibiki, backend, name)
            r["round"] = round_index
            report["runs"][name].append(r)
            backend_part = (f", backend {r.get('backend_cpu_us_per_request') or 0:.2f}"
                            f" us/request ({r.get('backend_cpu_pct', 0):.0f} %,"
                            f" {r.get('backend_connections_opened')} connections)"
                            if "backend_cpu_pct" in r else "")
            print(f"round {round_index + 1} {name}: {r.get('msgs_per_s', 0):,.0f} msgs/s,"
                  f" server {r.get('server_cpu_us_per_unit')} us/msg"
                  f" ({r.get('server_cpu_pct')} %){backend_part}, wsload {r.get('client_cpu_pct')} %,"
                  f" idle {r.get('machine_idle_pct', 0):.0f} %, p50/p99 {r.get('p50_us')}/"
                  f"{r.get('p99_us')} us, errors {r.get('errors')} {r.get('error', '')}",
                  file=sys.stderr)

    runs = report["runs"]
    summary = {}
    fields = ["msgs_per_s", "p50_us", "p99_us", "server_cpu_us_per_unit", "server_cpu_pct",
              "gateway_cpu_us_per_request_whole_run", "backend_cpu_us_per_request",
              "backend_cpu_pct", "backend_connections_opened", "client_cpu_pct",
              "machine_idle_pct"]
    for name in configurations:
        summary[name] = {f: spread_of([r.get(f) for r in runs[name]]) for f in fields}
        summary[name]["errors"] = sum(r.get("errors") or 0 for r in runs[name])
        summary[name]["failed_runs"] = sum(1 for r in runs[name] if r.get("error"))

    def ratios(a, b):
        pairs = list(zip(runs[a], runs[b]))  # same round: measured side by side
        return {field: spread_of([y[field] / x[field] for x, y in pairs
                                  if x.get(field) and y.get(field)])
                for field in ("msgs_per_s", "server_cpu_us_per_unit", "p99_us")}
    gateways = [name for name in configurations if name.startswith("gateway-")]
    for other in gateways[1:]:
        summary[f"{other}/{gateways[0]}"] = ratios(gateways[0], other)
    if "echo" in configurations:
        for name in gateways:
            summary[f"{name}/echo"] = ratios("echo", name)
    report["summary"] = summary

    print(f"\ngateway, {options.connections} clients x {options.inflight} in flight,"
          f" {options.size}-byte text messages, two-way $default route, {options.rounds} rounds"
          f" of {options.duration} s; median (min-max)")
    for name in configurations:
        s = summary[name]
        print(f"{name}: {show(s['msgs_per_s'])} msgs/s, p50 {show(s['p50_us'])} us,"
              f" p99 {show(s['p99_us'])} us, errors {s['errors']}, failed runs {s['failed_runs']}")
        print(f"  server CPU per message {show(s['server_cpu_us_per_unit'])} us"
              f" ({show(s['server_cpu_pct'])} % of a core)")
        if name != "echo":
            print(f"  (whole run: {show(s['gateway_cpu_us_per_request_whole_run'])} us);"
                  f" backend CPU per request {show(s['backend_cpu_us_per_request'])} us"
                  f" ({show(s['backend_cpu_pct'])} %), connections to it"
                  f" {show(s['backend_connections_opened'])}")
        print(f"  wsload {show(s['client_cpu_pct'])} %, machine idle"
              f" {show(s['machine_idle_pct'])} %")
    for key, value in summary.items():
        if "/" in key:
            print(f"ratio {key} (per round): msgs/s {show(value['msgs_per_s'])},"
                  f" server CPU per message {show(value['server_cpu_us_per_unit'])},"
                  f" p99 {show(value['p99_us'])}")

    os.makedirs(os.path.dirname(options.json), exist_ok=True)
    with open(options.json, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nraw results: {options.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
