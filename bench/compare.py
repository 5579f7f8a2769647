#!/usr/bin/env python3
"""Side-by-side WebSocket server benchmark on this machine.

Starts each server pinned to core 0, drives it with ../shared/bench/wsload pinned to core 1,
interleaving servers round-robin (A B C A B C ...), a fresh server process per run. Prints, per
workload, each server's median (min-max) of the server's CPU per unit of work and throughput,
wsload's own CPU share, and the median of the per-round ratios hibiki/uws, hibiki/bun and
hibiki/node-ws. Writes every raw wsload result and the summary as JSON.

uWebSockets ("uws") is measured when a binary of the small anchor app is given (--uws or
HIBIKI_BENCH_UWS; its OpenSSL build for the wss workloads: --uws-tls or HIBIKI_BENCH_UWS_TLS);
the project never builds it, and without one it is silently left out. The app takes
`PORT [--deflate] [--cert FILE --key FILE]` and serves /echo and /chat like the peers.

The *-wss workloads run over TLS against every server with one self-signed ECDSA P-256
certificate (made once under build/bench-tls/); broadcast-deflate publishes a ~1 KiB chat line
with permessage-deflate.

--scaling runs hibiki alone with --threads 1 and --threads 2 (echo32 and broadcast), the server
on both cores instead of one.

Loopback only; every run is bounded by wsload's --duration. Not a test: never fails on noise.
   /usr/bin/python3 bench/compare.py [--rounds 5] [--workloads echo32,broadcast-wss,...]
                                     [--servers hibiki,node-ws,bun,uws] [--uws PATH]
                                     [--uws-tls PATH] [--threads N] [--scaling]
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WSLOAD_DIR = os.path.join(ROOT, "..", "shared", "bench", "wsload")
ANCHORS = os.path.join(ROOT, "..", "shared", "bench", "ANCHORS.md")
PEERS = os.path.join(ROOT, "bench", "peers")
BUN = os.path.join(PEERS, "node_modules", "@oven", "bun-linux-x64", "bin", "bun")
HIBIKI = os.path.join(ROOT, "build", "release", "hibiki")
TLS_DIR = os.path.join(ROOT, "build", "bench-tls")
CERT = os.path.join(TLS_DIR, "cert.pem")
KEY = os.path.join(TLS_DIR, "key.pem")

# The talk's chat line is ~50 bytes: below the size where deflate pays (without context it comes
# out as large as it went in). The deflate workload publishes a ~1 KiB compressible line instead.
DEFLATE_LINE = "The quick brown fox jumps over the lazy dog; " * 22

# name -> (wsload arguments, server job, throughput key, unit of the per-unit figure)
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
# The same over wss:// (the TLS handshake costs wsload ~0.6 ms of CPU: fewer idle connections,
# more time to open them).
for _name in ("echo32", "broadcast", "connect"):
    WORKLOADS[_name + "-wss"] = WORKLOADS[_name]
WORKLOADS["idle-wss"] = (["--mode", "idle", "--connections", "2000", "--connect-timeout", "30",
                          "--duration", "3"], "echo", "connected", "bytes of RSS per connection")
WORKLOADS["broadcast-deflate"] = (
    ["--mode", "broadcast", "--connections", "1000", "--publishers", "1", "--rate", "0",
     "--inflight", "32", "--drain", "3", "--duration", "5", "--deflate", "--payload-template",
     '{"action":"message","message":"{ts} ' + DEFLATE_LINE + '"}'], "chat", "deliveries_per_s",
    "µs per delivery")


def variant(workload):
    """None, "tls" or "deflate": how the servers are started and the URL they get."""
    if workload.endswith("-wss"):
        return "tls"
    if workload.endswith("-deflate"):
        return "deflate"
    return None

# Row labels of the "Server CPU per unit" table in ANCHORS.md, by workload.
ANCHOR_ROWS = {"echo32": "echo 32 B", "echo16k": "echo 16 KiB", "broadcast": "broadcast",
               "connect": "handshake", "idle": "idle"}
ANCHOR_COLUMNS = {"uWebSockets": "uws", "Bun": "bun", "Node ws": "node-ws"}

SERVER_CORES = "0"
CLIENT_CORES = "1"
SCALING_CORES = "0,1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate():
    """One self-signed ECDSA P-256 certificate for localhost, shared by every server."""
    if os.path.exists(CERT) and os.path.exists(KEY):
        return
    os.makedirs(TLS_DIR, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", KEY, "-out", CERT], check=True, capture_output=True)


def hibiki_command(hibiki, kind, port, threads, mode=None, io=None):
    job = "chat" if kind == "chat" else "echo"
    command = [hibiki, job, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warn",
               "--idle-timeout", "0", "--max-message", str(16 << 20), "--max-connections",
               "200000", "--max-connections-per-ip", "0"]
    if job == "chat":
        # Same work as the anchors: no history on disk, no per-client rate limit.
        command += ["--db", ":memory:", "--rate-limit", "0"]
    if threads is not None:
        command += ["--threads", str(threads)]
    if mode == "tls":
        command += ["--tls-cert", CERT, "--tls-key", KEY]
    elif mode == "deflate":
        # One compression per publish, shared by every subscriber; every message compressed.
        command += ["--compression", "shared", "--compression-threshold", "0"]
    if io is not None:
        command += ["--io", io]
    return command


def peer_flags(mode):
    if mode == "tls":
        return ["--tls", CERT, KEY]
    return ["--deflate"] if mode == "deflate" else []


def uws_binary(options, mode):
    return options.uws_tls if mode == "tls" else options.uws


def server_command(name, kind, port, options, mode=None):
    # hibiki-tN: hibiki with --threads N (--scaling).
    match = re.fullmatch(r"hibiki-t(\d+)", name)
    if match:
        return hibiki_command(options.hibiki, kind, port, int(match.group(1)), mode)
    # hibiki-epoll, hibiki-io_uring: hibiki on that I/O backend (--backends).
    match = re.fullmatch(r"hibiki-(epoll|io_uring)", name)
    if match:
        return hibiki_command(options.hibiki, kind, port, options.threads, mode, match.group(1))
    if name == "hibiki":
        return hibiki_command(options.hibiki, kind, port, options.threads, mode)
    if name == "node-ws":
        return ["node", os.path.join(PEERS, "node-ws-server.mjs"), str(port)] + peer_flags(mode)
    if name == "bun":
        return [BUN, os.path.join(PEERS, "bun-server.mjs"), str(port)] + peer_flags(mode)
    if name == "uws":
        flags = {"tls": ["--cert", CERT, "--key", KEY], "deflate": ["--deflate"]}.get(mode, [])
        return [uws_binary(options, mode), str(port)] + flags
    raise ValueError(name)


def url_for(name, kind, port, mode=None):
    hibiki = name.startswith("hibiki")
    path = "/ws" if (hibiki and kind == "chat") else ("/chat" if kind == "chat" else "/echo")
    if mode == "tls":
        # The certificate names localhost: SNI and the name are checked against it.
        return f"wss://localhost:{port}{path}"
    return f"ws://127.0.0.1:{port}{path}"


def client_flags(mode):
    return ["--ca", CERT] if mode == "tls" else []


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


def run_one(wsload, name, workload, options, server_cores, client_cores):
    args, kind, _, _ = WORKLOADS[workload]
    mode = variant(workload)
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", server_cores] +
                              server_command(name, kind, port, options, mode),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=raise_fd_limit)
    try:
        if not wait_listening(port):
            return {"error": "server did not listen"}
        time.sleep(0.3)
        out = subprocess.run(["taskset", "-c", client_cores, wsload, *args, *client_flags(mode),
                              "--server-pid", str(server.pid), "-q",
                              url_for(name, kind, port, mode)],
                             capture_output=True, text=True, timeout=180)
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
    if workload.startswith("idle"):
        return result.get("bytes_per_conn")
    return result.get("server_cpu_us_per_unit")


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def one(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt(s):
    if not s:
        return "n/a"
    if len(s["values"]) == 1:
        return one(s["median"])
    return f"{one(s['median'])} ({one(s['min'])}–{one(s['max'])})"


def round_ratios(per_server, a, b, workload):
    """Median (min-max) of a/b over the rounds, each round's two runs side by side."""
    if a not in per_server or b not in per_server:
        return None
    pairs = [(figure(x, workload), figure(y, workload))
             for x, y in zip(per_server[a], per_server[b])]
    return spread([x / y for x, y in pairs if x and y])


def parse_number(cell):
    match = re.search(r"\d[\d,]*(?:\.\d+)?", cell.replace("*", ""))
    return float(match.group(0).replace(",", "")) if match else None


def read_anchors(path):
    """The "Server CPU per unit" table of ANCHORS.md: {workload: {"uws": x, "bun": x, ...}}."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    start = next((i for i, line in enumerate(lines) if line.startswith("## Server CPU per unit")),
                 None)
    if start is None:
        return {}
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    if len(table) < 3:
        return {}
    header, rows = table[0], table[2:]
    anchors = {}
    for row in rows:
        workload = next((w for w, label in ANCHOR_ROWS.items() if row[0].startswith(label)), None)
        if workload is None:
            continue
        anchors[workload] = {ANCHOR_COLUMNS[name]: parse_number(row[i])
                             for i, name in enumerate(header) if name in ANCHOR_COLUMNS}
    return anchors


def version(command):
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def hibiki_knows_threads(hibiki):
    try:
        out = subprocess.run([hibiki, "echo", "--help"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--threads" in out.stdout


def machine():
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "load_average_at_start": list(os.getloadavg())}


def run_rounds(wsload, servers, workloads, options, server_cores, client_cores):
    results = {}
    for workload in workloads:
        for round_index in range(options.rounds):
            for name in servers:
                if name == "uws" and not uws_binary(options, variant(workload)):
                    continue  # no uWebSockets build of that kind: left out
                r = run_one(wsload, name, workload, options, server_cores, client_cores)
                results.setdefault(workload, {}).setdefault(name, []).append(r)
                print(f"{workload} round {round_index + 1} {name}: {one(figure(r, workload))} "
                      f"(client cpu {r.get('client_cpu_pct')}%, errors {r.get('errors')}"
                      f"{', ' + r['error'] if 'error' in r else ''})", file=sys.stderr)
    return results


def summarize(results, servers):
    summary = {}
    for workload, per_server in results.items():
        _, _, rate_key, unit = WORKLOADS[workload]
        entry = {"unit": unit, "rate_key": rate_key, "servers": {}, "ratios": {}}
        for name in servers:
            runs = per_server.get(name, [])
            entry["servers"][name] = {
                "figure": spread([figure(r, workload) for r in runs]),
                "rate": spread([r.get(rate_key) for r in runs]),
                "client_cpu_pct": spread([r.get("client_cpu_pct") for r in runs]),
                "errors": sum(r.get("errors") or 0 for r in runs) +
                sum(1 for r in runs if "error" in r),
            }
        summary[workload] = entry
    return summary


def print_compare(summary, servers, anchors, rounds):
    # hibiki's own variants (hibiki-epoll, …) first, then the anchors in a fixed order.
    anchor_order = ["uws", "bun", "node-ws"]
    others = sorted((s for s in servers if s != "hibiki"),
                    key=lambda s: anchor_order.index(s) if s in anchor_order else -1)
    ratio_names = [f"hibiki/{s}" for s in others]
    if "bun" in servers and "node-ws" in servers:
        ratio_names.append("bun/node-ws")
    print(f"\nServer CPU per unit of work (lower is better): median (min–max) of {rounds} "
          f"round(s); ratios are the median (min–max) of the per-round ratios. Server on core "
          f"{SERVER_CORES}, wsload on core {CLIENT_CORES}.\n")
    print("| workload | unit | " + " | ".join(servers) + " | " + " | ".join(ratio_names) + " |")
    print("|" + "---|" * (2 + len(servers) + len(ratio_names)))
    for workload, entry in summary.items():
        cells = [fmt(entry["servers"][s]["figure"]) for s in servers]
        ratios = [fmt(entry["ratios"].get(r)) for r in ratio_names]
        print(f"| {workload} | {entry['unit']} | " + " | ".join(cells) + " | " +
              " | ".join(ratios) + " |")

    print("\nThroughput (higher is better; client-bound where wsload's CPU share is near 100 %) "
          "and wsload's CPU share, % of its one core:\n")
    print("| workload | rate | " + " | ".join(servers) + " | wsload CPU % " +
          " / ".join(servers) + " |")
    print("|" + "---|" * (3 + len(servers)))
    for workload, entry in summary.items():
        rates = [fmt(entry["servers"][s]["rate"]) for s in servers]
        cpu = " / ".join(fmt(entry["servers"][s]["client_cpu_pct"]) for s in servers)
        print(f"| {workload} | {entry['rate_key']} | " + " | ".join(rates) + f" | {cpu} |")

    errors = {(w, s): e["servers"][s]["errors"] for w, e in summary.items() for s in servers
              if e["servers"][s]["errors"]}
    if errors:
        print("\nRuns with errors (figures from them are suspect): " +
              ", ".join(f"{w} {s}: {n}" for (w, s), n in errors.items()))

    if not anchors:
        return
    print("\nAnchors (../shared/bench/ANCHORS.md, server CPU per unit, measured on another day "
          "under another load: compare their ratios, not their absolute figures). The last "
          "column is derived, not measured: (hibiki/node-ws this run) × (Node ws anchor / "
          "uWebSockets anchor).\n")
    print("| workload | uWS anchor | Bun anchor | Node ws anchor | uWS/Node ws (anchors) | "
          "Bun/Node ws (anchors) | bun/node-ws (this run) | hibiki/node-ws (this run) | "
          "hibiki vs uWS anchor via node-ws (derived) |")
    print("|" + "---|" * 9)
    for workload, entry in summary.items():
        a = entry.get("anchors")
        if not a:
            continue
        d = entry.get("derived", {})
        print(f"| {workload} | {one(a.get('uws'))} | {one(a.get('bun'))} | "
              f"{one(a.get('node-ws'))} | {one(d.get('uws/node-ws anchor'))} | "
              f"{one(d.get('bun/node-ws anchor'))} | "
              f"{fmt(entry['ratios'].get('bun/node-ws'))} | "
              f"{fmt(entry['ratios'].get('hibiki/node-ws'))} | "
              f"{fmt(d.get('hibiki/uws via node-ws'))} |")


def add_ratios(summary, results, servers, anchors):
    for workload, entry in summary.items():
        per_server = results[workload]
        for s in servers:
            if s != "hibiki":
                entry["ratios"][f"hibiki/{s}"] = round_ratios(per_server, "hibiki", s, workload)
        if "bun" in servers and "node-ws" in servers:
            entry["ratios"]["bun/node-ws"] = round_ratios(per_server, "bun", "node-ws", workload)
        a = anchors.get(workload)
        if not a:
            continue
        entry["anchors"] = a
        derived = {}
        if a.get("uws") and a.get("node-ws"):
            derived["uws/node-ws anchor"] = a["uws"] / a["node-ws"]
        if a.get("bun") and a.get("node-ws"):
            derived["bun/node-ws anchor"] = a["bun"] / a["node-ws"]
        ratio = entry["ratios"].get("hibiki/node-ws")
        if ratio and "uws/node-ws anchor" in derived:
            scale = 1 / derived["uws/node-ws anchor"]
            derived["hibiki/uws via node-ws"] = {
                "median": ratio["median"] * scale, "min": ratio["min"] * scale,
                "max": ratio["max"] * scale, "values": [v * scale for v in ratio["values"]]}
        entry["derived"] = derived


def print_backends(summary, results, rounds):
    print(f"\nhibiki --threads 1 on epoll and on io_uring, interleaved: median (min–max) of "
          f"{rounds} round(s); the ratio is the median of the per-round io_uring/epoll ratios "
          "(below 1: io_uring does the same work with less server CPU).\n")
    print("| workload | unit | epoll | io_uring | io_uring/epoll | rate epoll | rate io_uring | "
          "p99 µs epoll | p99 µs io_uring | wsload CPU % epoll / io_uring |")
    print("|" + "---|" * 10)
    for workload, entry in summary.items():
        e, u = entry["servers"]["hibiki-epoll"], entry["servers"]["hibiki-io_uring"]
        runs = results[workload]
        p99 = {name: spread([r.get("p99_us") for r in runs[name]]) for name in runs}
        ratio = round_ratios(runs, "hibiki-io_uring", "hibiki-epoll", workload)
        print(f"| {workload} | {entry['unit']} | {fmt(e['figure'])} | {fmt(u['figure'])} | "
              f"{fmt(ratio)} | {fmt(e['rate'])} | {fmt(u['rate'])} | "
              f"{fmt(p99['hibiki-epoll'])} | {fmt(p99['hibiki-io_uring'])} | "
              f"{fmt(e['client_cpu_pct'])} / {fmt(u['client_cpu_pct'])} |")
        entry["ratios"]["io_uring/epoll"] = ratio
        entry["p99_us"] = p99


def print_scaling(summary, servers, rounds):
    print(f"\nhibiki with --threads 1 and --threads 2: median (min–max) of {rounds} round(s). "
          f"The server is NOT pinned to one core: it runs on cores {SCALING_CORES}, and wsload "
          f"shares those same two cores, so the client takes CPU from the second thread; "
          f"read the server's CPU per unit beside the throughput.\n")
    print("| workload | unit | " + " | ".join(f"{s} CPU" for s in servers) + " | rate | " +
          " | ".join(f"{s} rate" for s in servers) + " | rate t2/t1 | wsload CPU % " +
          " / ".join(servers) + " |")
    print("|" + "---|" * (5 + 2 * len(servers)))
    for workload, entry in summary.items():
        cells = [fmt(entry["servers"][s]["figure"]) for s in servers]
        rates = [fmt(entry["servers"][s]["rate"]) for s in servers]
        cpu = " / ".join(fmt(entry["servers"][s]["client_cpu_pct"]) for s in servers)
        speedup = fmt(entry.get("rate_ratio_t2/t1"))
        print(f"| {workload} | {entry['unit']} | " + " | ".join(cells) +
              f" | {entry['rate_key']} | " + " | ".join(rates) + f" | {speedup} | {cpu} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", help="comma-separated, from " + ",".join(WORKLOADS) +
                        " (default: all; echo32,broadcast with --scaling)")
    parser.add_argument("--servers", help="comma-separated, from hibiki,node-ws,bun (default: "
                        "all three when Bun is installed in bench/peers, else hibiki,node-ws)")
    parser.add_argument("--threads", type=int, help="hibiki's event loops (default: 1, "
                        "as its one core allows)")
    parser.add_argument("--scaling", action="store_true", help="hibiki alone with --threads 1 "
                        "and 2, server on cores " + SCALING_CORES)
    parser.add_argument("--backends", action="store_true", help="hibiki alone on epoll and on "
                        "io_uring (--io), --threads 1, server on core " + SERVER_CORES)
    parser.add_argument("--hibiki", default=HIBIKI, help="the hibiki binary (default: "
                        "build/release/hibiki)")
    parser.add_argument("--anchors", default=ANCHORS, help="an ANCHORS.md with a \"## Server "
                        "CPU per unit\" table, for a derived ratio through Node ws (off when it "
                        "has none)")
    parser.add_argument("--uws", default=os.environ.get("HIBIKI_BENCH_UWS"),
                        help="a uWebSockets anchor app built without TLS (default: "
                        "$HIBIKI_BENCH_UWS); measured as server \"uws\" when given")
    parser.add_argument("--uws-tls", default=os.environ.get("HIBIKI_BENCH_UWS_TLS"),
                        help="the same app built with OpenSSL, for the *-wss workloads "
                        "(default: $HIBIKI_BENCH_UWS_TLS)")
    parser.add_argument("--json", help="where to write raw results and summary (default: "
                        "bench/results/latest.json, or scaling.json with --scaling)")
    options = parser.parse_args()

    if options.backends:
        if options.servers or options.scaling:
            parser.error("--backends runs hibiki alone on both backends; drop --servers and "
                         "--scaling")
        servers = ["hibiki-epoll", "hibiki-io_uring"]
        workloads = (options.workloads or ",".join(WORKLOADS)).split(",")
        if options.threads is None:
            options.threads = 1
    elif options.scaling:
        if options.servers or options.threads is not None:
            parser.error("--scaling runs hibiki alone with --threads 1 and 2; drop --servers "
                         "and --threads")
        servers = ["hibiki-t1", "hibiki-t2"]
        workloads = (options.workloads or "echo32,broadcast").split(",")
    else:
        default = "hibiki,node-ws,bun" if os.access(BUN, os.X_OK) else "hibiki,node-ws"
        if options.uws or options.uws_tls:
            default += ",uws"
        servers = (options.servers or default).split(",")
        workloads = (options.workloads or ",".join(WORKLOADS)).split(",")
        if "hibiki" not in servers:
            parser.error("--servers must include hibiki")
        # The server has one core here, like every peer: one loop is its fair configuration
        # (the program's own default is one loop per core).
        if options.threads is None:
            options.threads = 1
    for workload in workloads:
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload}")
    for name in servers:
        if name not in ("hibiki", "node-ws", "bun", "uws", "hibiki-t1", "hibiki-t2", "hibiki-epoll",
                        "hibiki-io_uring"):
            parser.error(f"unknown server {name}")
    for binary in (options.uws, options.uws_tls):
        if "uws" in servers and binary and not os.access(binary, os.X_OK):
            parser.error(f"no uWebSockets app at {binary}")
    if any(variant(w) == "tls" for w in workloads):
        make_certificate()
    if "bun" in servers and not os.access(BUN, os.X_OK):
        parser.error(f"Bun is not installed ({BUN}): run scripts/install-deps.sh --bench")
    if not os.access(options.hibiki, os.X_OK):
        parser.error(f"no hibiki binary at {options.hibiki}: run scripts/build.sh release")
    if (options.scaling or options.threads is not None) and not hibiki_knows_threads(
            options.hibiki):
        print(f"{options.hibiki} has no --threads option yet; "
              f"{'--scaling' if options.scaling else '--threads'} needs it.", file=sys.stderr)
        return 2
    json_path = options.json or os.path.join(
        ROOT, "bench", "results", "scaling.json" if options.scaling else
        "backends.json" if options.backends else "latest.json")

    wsload = subprocess.run([os.path.join(WSLOAD_DIR, "build.sh")], capture_output=True,
                            text=True, check=True).stdout.strip().splitlines()[-1]
    meta = {
        "mode": "scaling" if options.scaling else "backends" if options.backends else "compare",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "rounds": options.rounds, "servers": servers, "workloads": workloads,
        "server_cores": SCALING_CORES if options.scaling else SERVER_CORES,
        "client_cores": SCALING_CORES if options.scaling else CLIENT_CORES,
        "hibiki_threads": options.threads,
        "versions": {"hibiki": version([options.hibiki, "--version"]),
                     "node": version(["node", "--version"]),
                     "bun": version([BUN, "--version"]) if "bun" in servers else None,
                     "uws": {"plain": options.uws, "tls": options.uws_tls}
                     if "uws" in servers else None},
        "machine": machine(),
    }

    if options.scaling:
        results = run_rounds(wsload, servers, workloads, options, SCALING_CORES, SCALING_CORES)
        summary = summarize(results, servers)
        for workload, entry in summary.items():
            _, _, rate_key, _ = WORKLOADS[workload]
            pairs = zip(results[workload]["hibiki-t2"], results[workload]["hibiki-t1"])
            entry["rate_ratio_t2/t1"] = spread([b.get(rate_key) / a.get(rate_key)
                                                for b, a in pairs
                                                if a.get(rate_key) and b.get(rate_key)])
        print_scaling(summary, servers, options.rounds)
        anchors = {}
    elif options.backends:
        results = run_rounds(wsload, servers, workloads, options, SERVER_CORES, CLIENT_CORES)
        summary = summarize(results, servers)
        print_backends(summary, results, options.rounds)
        anchors = {}
    else:
        results = run_rounds(wsload, servers, workloads, options, SERVER_CORES, CLIENT_CORES)
        summary = summarize(results, servers)
        anchors = read_anchors(options.anchors)
        add_ratios(summary, results, servers, anchors)
        print_compare(summary, servers, anchors, options.rounds)

    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "summary": summary, "raw": results}, f, indent=1,
                  ensure_ascii=False)
    shown = os.path.relpath(json_path)
    print(f"\nraw results and summary: {json_path if shown.startswith('..') else shown}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
