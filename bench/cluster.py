"""Cluster benchmarks (docs/BENCHMARKS.md, "Cluster"): what running the chat as cluster nodes on
Redis costs, measured with ../shared/bench/wsload on loopback. Never a timed test.

  /usr/bin/python3 bench/cluster.py [--rounds 3] [--parts single,spread,redis] [--json FILE]

single  one node, broadcast to 1,000 (window 32, the compare.py workload): hibiki's CPU per
        delivery alone (--db :memory:) and clustered (--redis), interleaved; the node on core 0,
        wsload and Redis on core 1. Also Redis' CPU per published message.
spread  3 nodes, 1 publisher on node 0, 3,000 subscribers (1,000 per node, one wsload per
        node): deliveries/s with a window of 32, and publish-to-receive p50/p99 on each node at a
        fixed rate (--rate).
redis   Redis' CPU per published message (its idle background subtracted) with 3,000
        subscribers on 1, 2 and 3 nodes, and with 300 or 3,000 on one node: it must grow with
        nodes, not with subscribers.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from compare import free_port, raise_fd_limit, wait_listening

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WSLOAD_DIR = os.path.join(ROOT, "..", "shared", "bench", "wsload")
HIBIKI = os.path.join(ROOT, "build", "release", "hibiki")
REDIS_CONF = os.path.join(ROOT, "examples", "cluster", "redis.conf")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TEMPLATE = '{"action":"message","message":"{ts}"}'


def wait_ready(port, timeout=10.0):
    """Polls the node's /readyz until it answers 200."""
    deadline = time.time() + timeout
    request = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def redis_cpu_seconds(port):
    """Redis' own CPU so far (INFO cpu: getrusage, microseconds; /proc's 10 ms ticks are too
    coarse for a few thousand messages)."""
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "cpu"], capture_output=True,
                         text=True, timeout=10).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


def redis_command_stats(port):
    """{command: (calls, usec)} from INFO commandstats: Redis' time inside each command."""
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"],
                         capture_output=True, text=True, timeout=10).stdout
    stats = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, values = line[len("cmdstat_"):].split(":", 1)
            fields = dict(v.split("=", 1) for v in values.split(","))
            stats[name] = (int(fields["calls"]), int(fields["usec"]))
    return stats


def cpu_seconds(pid):
    """User + system CPU of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Processes:
    """Everything a run started, stopped by PID at the end."""

    def __init__(self):
        self.started = []

    def start(self, command, cores=None):
        if cores is not None:
            command = ["taskset", "-c", cores] + command
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=raise_fd_limit)
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


def start_redis(procs, cores):
    directory = tempfile.mkdtemp(prefix="hibiki-bench-redis-")
    port = free_port()
    process = procs.start(["redis-server", REDIS_CONF, "--port", str(port), "--bind", "127.0.0.1",
                           "--dir", directory, "--logfile", ""], cores)
    if not wait_listening(port):
        raise RuntimeError("redis-server did not start")
    return process, port, directory


def node_command(port, redis_port=None, node_id=None):
    command = [HIBIKI, "chat", "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
               "--log-level", "warn", "--idle-timeout", "0", "--rate-limit", "0",
               "--max-connections-per-ip", "0", "--db", ":memory:"]
    if redis_port is not None:
        command += ["--redis", f"redis://127.0.0.1:{redis_port}", "--node-id", node_id]
    return command


def wsload(binary, port, cores, connections, publishers, rate, duration, server_pid=None,
           settle_ms=300):
    command = ["taskset", "-c", cores, binary, "--mode", "broadcast", "--connections",
               str(connections), "--publishers", str(publishers), "--duration", str(duration),
               "--settle", str(settle_ms), "--payload-template", TEMPLATE, "-q"]
    if rate == 0:
        command += ["--rate", "0", "--inflight", "32"]
    else:
        command += ["--rate", str(rate)]
    if server_pid is not None:
        command += ["--server-pid", str(server_pid)]
    command.append(f"ws://127.0.0.1:{port}/ws")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def result_of(process):
    out, _ = process.communicate(timeout=300)
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def run_single(binary, clustered):
    """One node, broadcast to 1,000 with a window of 32: the node's CPU per delivery."""
    procs = Processes()
    directory = None
    try:
        redis_pid = None
        redis_port = None
        if clustered:
            redis, redis_port, directory = start_redis(procs, "1")
            redis_pid = redis.pid
        port = free_port()
        node = procs.start(node_command(port, redis_port, "bench-0"), "0")
        if not (wait_ready(port) if clustered else wait_listening(port)):
            return {"error": "node not ready"}
        time.sleep(0.3)
        redis_before = redis_cpu_seconds(redis_port) if redis_pid else None
        result = result_of(wsload(binary, port, "1", 1000, 1, 0, 5, server_pid=node.pid))
        if redis_pid:
            result["redis_cpu_s"] = redis_cpu_seconds(redis_port) - redis_before
            if result.get("sent"):
                result["redis_cpu_us_per_message"] = 1e6 * result["redis_cpu_s"] / result["sent"]
        return result
    finally:
        procs.stop_all()
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


def run_spread(binary, nodes, subscribers, rate, duration=5):
    """`subscribers` spread over `nodes` nodes (one wsload each); one publisher on node 0 at
    `rate` messages/s. Deliveries/s and latency per node, Redis CPU per published message."""
    procs = Processes()
    directory = None
    try:
        redis, redis_port, directory = start_redis(procs, None)
        ports = [free_port() for _ in range(nodes)]
        for i, port in enumerate(ports):
            procs.start(node_command(port, redis_port, f"bench-{i}"))
        if not all(wait_ready(port) for port in ports):
            return {"error": "nodes not ready"}
        time.sleep(0.3)
        per_node = subscribers // nodes
        # Redis' own background work (heartbeats, probes, its timers) over a quiet second, to
        # take out of the per-message figure.
        idle_before = redis_cpu_seconds(redis_port)
        time.sleep(2.0)
        idle_per_s = (redis_cpu_seconds(redis_port) - idle_before) / 2.0
        # Subscribers first, measuring longer than the publisher so that they all hear it all.
        listeners = [wsload(binary, port, "0,1", per_node, 0, 0, duration + 4, settle_ms=300)
                     for port in ports[1:]]
        time.sleep(1.5)
        redis_before = redis_cpu_seconds(redis_port)
        scripts_before = redis_command_stats(redis_port).get("evalsha", (0, 0))
        started = time.time()
        publisher = wsload(binary, ports[0], "0,1", per_node, 1, rate, duration, settle_ms=1000)
        results = [result_of(publisher)]
        redis_cpu = (redis_cpu_seconds(redis_port) - redis_before -
                     idle_per_s * (time.time() - started))
        scripts_after = redis_command_stats(redis_port).get("evalsha", (0, 0))
        calls = scripts_after[0] - scripts_before[0]
        script_us = (scripts_after[1] - scripts_before[1]) / calls if calls else None
        results += [result_of(listener) for listener in listeners]
        sent = results[0].get("sent") or 0
        delivered = sum(r.get("delivered") or 0 for r in results)
        return {
            "nodes": nodes,
            "subscribers": per_node * nodes,
            "sent": sent,
            "delivered": delivered,
            "expected": sent * per_node * nodes,
            "deliveries_per_s": delivered / duration,
            "p50_us": [r.get("p50_us") for r in results],
            "p99_us": [r.get("p99_us") for r in results],
            "redis_cpu_us_per_message": 1e6 * redis_cpu / sent if sent else None,
            # The send script's own time (store + publish to each node), heartbeats included.
            "redis_script_us_per_call": script_us,
        }
    finally:
        procs.stop_all()
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


def spread_of(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def show(s, digits=3):
    if not s:
        return "n/a"
    return f"{s['median']:.{digits}g} ({s['min']:.{digits}g}-{s['max']:.{digits}g})"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="single,spread,redis")
    parser.add_argument("--rate", type=int, default=50,
                        help="publisher rate for spread and redis (messages/s)")
    parser.add_argument("--redis-rate", type=int, default=500,
                        help="publisher rate for the redis part (messages/s)")
    parser.add_argument("--wsload", default=None)
    parser.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "cluster.json"))
    options = parser.parse_args()
    binary = options.wsload or subprocess.run(
        [os.path.join(WSLOAD_DIR, "build.sh")], capture_output=True, text=True,
        check=True).stdout.strip().splitlines()[-1]
    parts = options.parts.split(",")
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "load_average_at_start": os.getloadavg()}

    if "single" in parts:
        runs = {"single": [], "clustered": []}
        for round_index in range(options.rounds):
            for name in ("single", "clustered"):
                r = run_single(binary, name == "clustered")
                runs[name].append(r)
                print(f"single round {round_index + 1} {name}: "
                      f"{r.get('server_cpu_us_per_unit')} us/delivery, "
                      f"{r.get('deliveries_per_s')} deliveries/s, p99 {r.get('p99_us')} us, "
                      f"redis {r.get('redis_cpu_us_per_message')} us/msg", file=sys.stderr)
        ratios = [c.get("server_cpu_us_per_unit") / s.get("server_cpu_us_per_unit")
                  for s, c in zip(runs["single"], runs["clustered"])
                  if s.get("server_cpu_us_per_unit") and c.get("server_cpu_us_per_unit")]
        report["single"] = runs
        summary = {name: spread_of([r.get("server_cpu_us_per_unit") for r in rs])
                   for name, rs in runs.items()}
        print(f"\nbroadcast to 1,000, one node: CPU per delivery alone {show(summary['single'])} us,"
              f" clustered {show(summary['clustered'])} us, ratio {show(spread_of(ratios))}")
        for name, rs in runs.items():
            print(f"  {name}: deliveries/s {show(spread_of([r.get('deliveries_per_s') for r in rs]))},"
                  f" p99 {show(spread_of([r.get('p99_us') for r in rs]))} us")
        print(f"  Redis CPU per message: "
              f"{show(spread_of([r.get('redis_cpu_us_per_message') for r in runs['clustered']]))} us")

    if "spread" in parts:
        # As fast as the window allows (throughput), then at a rate every part keeps up with
        # (latency: at saturation it would only measure queues).
        for label, rate in (("window 32", 0), (f"{options.rate}/s", options.rate)):
            runs = [run_spread(binary, 3, 3000, rate) for _ in range(options.rounds)]
            report[f"spread {label}"] = runs
            for r in runs:
                print(f"spread {label}: {r}", file=sys.stderr)
            print(f"\n3 nodes, 3,000 subscribers, 1 publisher ({label}): deliveries/s "
                  f"{show(spread_of([r.get('deliveries_per_s') for r in runs]))}, delivery ratio "
                  f"{show(spread_of([r['delivered'] / r['expected'] for r in runs if r.get('expected')]), 4)}")
            for node in range(3):
                p50 = spread_of([r["p50_us"][node] for r in runs if r.get("p50_us")])
                p99 = spread_of([r["p99_us"][node] for r in runs if r.get("p99_us")])
                print(f"  node {node}: publish-to-receive p50 {show(p50)} us, p99 {show(p99)} us")

    if "redis" in parts:
        # One message rate for every layout (Redis batches more per wake-up at higher rates,
        # which would blur the comparison), high enough that its background work is small.
        layouts = [(1, 300), (1, 3000), (2, 3000), (3, 3000)]
        runs = {f"{n}x{s}": [] for n, s in layouts}
        for _ in range(options.rounds):
            for nodes, subscribers in layouts:
                r = run_spread(binary, nodes, subscribers, options.redis_rate)
                runs[f"{nodes}x{subscribers}"].append(r)
                print(f"redis {nodes} nodes {subscribers} subscribers: "
                      f"{r.get('redis_cpu_us_per_message')} us/msg", file=sys.stderr)
        report["redis"] = runs
        print(f"\nRedis CPU per published message ({options.redis_rate} messages/s):")
        for key, rs in runs.items():
            nodes, subscribers = key.split("x")
            print(f"  {nodes} node(s), {subscribers} subscribers: all of Redis "
                  f"{show(spread_of([r.get('redis_cpu_us_per_message') for r in rs]))} us, the "
                  f"send script {show(spread_of([r.get('redis_script_us_per_call') for r in rs]))}"
                  f" us, {show(spread_of([r['sent'] / 5 for r in rs if r.get('sent')]))}"
                  " messages/s")

    os.makedirs(os.path.dirname(options.json), exist_ok=True)
    with open(options.json, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nraw results: {options.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
