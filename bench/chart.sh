#!/usr/bin/env bash
# Draws the results of bench/compare.py as an SVG bar chart with gnuplot: for each workload, each
# server's CPU per unit of work relative to the best anchor measured in the same run (the lower
# median of uWebSockets and Bun; lower is better, log scale). hibiki's whiskers are the min-max
# of its per-round ratios to that anchor.
#   bench/chart.sh bench/results/latest.json docs/benchmarks.svg   (OUT.png: the same as PNG)
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: bench/chart.sh RESULTS.json OUT.svg" >&2
  exit 2
fi
command -v gnuplot >/dev/null || {
  echo "chart.sh: gnuplot is missing (scripts/install-deps.sh --bench installs it)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$1" "$2" "$work" <<'EOF'
import json
import math
import os
import sys

results_path, out_path, work = sys.argv[1:4]
with open(results_path, encoding="utf-8") as f:
    results = json.load(f)
meta, summary = results.get("meta", {}), results.get("summary", {})
if meta.get("mode") != "compare":
    sys.exit(f"chart.sh: {results_path} is not a bench/compare.py comparison "
             f"(mode {meta.get('mode')!r})")

names = {"echo32": "echo 32 B", "echo16k": "echo 16 KiB", "broadcast": "broadcast",
         "connect": "handshakes", "idle": "idle RSS", "echo32-wss": "wss echo 32 B",
         "broadcast-wss": "wss broadcast", "connect-wss": "wss handshakes",
         "idle-wss": "wss idle RSS", "broadcast-deflate": "deflate broadcast"}


def median(entry, server):
    figure = entry["servers"].get(server, {}).get("figure")
    return figure["median"] if figure else None


def best_anchor(entry):
    medians = [(median(entry, a), a) for a in ("uws", "bun") if median(entry, a)]
    return min(medians)[1] if medians else None


def relative(server):
    def get(entry):
        best = best_anchor(entry)
        if not best or not median(entry, server):
            return None
        if server == "hibiki":
            # Per-round ratios give the whiskers; the bar is their median.
            ratio = entry["ratios"].get(f"hibiki/{best}")
            if ratio:
                return ratio
        return {"median": median(entry, server) / median(entry, best)}
    return get


series = [
    ("hibiki", "#d1495b", relative("hibiki")),
    ("uWebSockets", "#00798c", relative("uws")),
    ("Bun", "#edae49", relative("bun")),
    ("Node ws", "#8d96a3", relative("node-ws")),
]
workloads = [w for w in meta.get("workloads", summary)
             if w in summary and best_anchor(summary[w])]
values = {}
for s_index, (_, _, get) in enumerate(series):
    for w_index, w in enumerate(workloads):
        r = get(summary[w])
        if r and r.get("median"):
            values[(s_index, w_index)] = r
present = [s for s in range(len(series)) if any((s, w) in values for w in range(len(workloads)))]
if not present:
    sys.exit(f"chart.sh: neither uWebSockets nor Bun was measured in {results_path}")

lows = [min(r.get("min", r["median"]), r["median"]) for r in values.values()]
highs = [max(r.get("max", r["median"]), r["median"]) for r in values.values()]
bottom = 10 ** math.floor(math.log10(min(lows) * 0.6))
top = max(2.0, 10 ** math.ceil(math.log10(max(highs) * 1.6)) if max(highs) > 1 else 2.0)
width = 0.8 / len(present)

with open(os.path.join(work, "data"), "w") as f:
    for rank, s in enumerate(present):
        for w in range(len(workloads)):
            r = values.get((s, w))
            if not r:
                continue
            x = w + (rank - (len(present) - 1) / 2) * width
            low, high = r.get("min", r["median"]), r.get("max", r["median"])
            label = f"{r['median']:.2g}" if r["median"] < 10 else f"{r['median']:.0f}"
            f.write(f"{x} {r['median']} {x - width / 2} {x + width / 2} {bottom} {r['median']} "
                    f"{low} {high} {max(high, r['median']) * 1.18} \"{label}\"\n")
        f.write("\n\n")

rounds = meta.get("rounds")
date = (meta.get("date") or "")[:10]
versions = meta.get("versions", {})
subtitle = [
    f"{date}, {rounds} round(s), every server side by side in one interleaved run, one core "
    f"each: medians; hibiki's whiskers are the min-max of its per-round ratios.",
    f"Bun {versions.get('bun') or ''}, Node ws on Node {versions.get('node') or ''}, "
    f"uWebSockets (C++ anchor app, -O3). Idle: bytes of RSS per connection instead of CPU.",
    "wss: one ECDSA P-256 certificate for every server. Deflate: ~1 KiB chat line, "
    "permessage-deflate, over ws://.",
]
xtics = ", ".join(f'"{names.get(w, w)}" {i}' for i, w in enumerate(workloads))
plots = []
for rank, s in enumerate(present):
    title, color, _ = series[s]
    plots.append(f"data index {rank} using 1:2:3:4:5:6 with boxxyerror fc rgb '{color}' "
                 f"title '{title}'")
    if s == 0 and any(r.get("max", 0) > r.get("min", 0)
                      for (vs, _), r in values.items() if vs == s):
        plots.append(f"data index {rank} using 1:7:(0):($8-$7) with vectors nohead lw 1.5 "
                     f"lc rgb '#333333' notitle")
    plots.append(f"data index {rank} using 1:9:10 with labels font ',8' notitle")
# SVG for the docs; a .png name gets the same chart as PNG (for a quick look).
terminal = ("pngcairo size 1280,600 noenhanced font 'sans,11' background rgb 'white'"
            if out_path.endswith(".png") else
            "svg size 1280,600 dynamic noenhanced font 'sans,12' background rgb 'white'")
script = f"""
set terminal {terminal}
set output '{out_path}'
data = '{os.path.join(work, "data")}'
set label 1 "Server CPU per unit of work, relative to the best of uWebSockets and Bun (lower is better)" at screen 0.5, screen 0.955 center font ',14'
set label 3 "{subtitle[0]}" at screen 0.5, screen 0.91 center font ',9' tc rgb '#444444'
set label 4 "{subtitle[1]}" at screen 0.5, screen 0.88 center font ',9' tc rgb '#444444'
set label 5 "{subtitle[2]}" at screen 0.5, screen 0.85 center font ',9' tc rgb '#444444'
set tmargin 8
set logscale y
set yrange [{bottom}:{top}]
set format y '%g'
set ylabel 'server CPU per unit / best anchor (log scale)'
set xrange [-0.6:{len(workloads) - 0.4}]
set xtics ({xtics}) nomirror scale 0
set ytics nomirror
set grid ytics lc rgb '#dddddd'
set border 3
set key outside below center horizontal maxcols 4 reverse Left samplen 1.5 width 2
set style fill solid 0.9 border lc rgb '#555555'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb '#555555'
set label 2 'best anchor = 1' at graph 0, first 1 left offset 0.5, 0.6 font ',9' tc rgb '#555555'
plot {", ".join(plots)}
"""
with open(os.path.join(work, "plot.gp"), "w") as f:
    f.write(script)
EOF
gnuplot "$work/plot.gp"
