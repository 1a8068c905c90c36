#!/usr/bin/env python3
"""Turn the benchmark CSV into an SVG bar chart (Python 3 standard library only).

    python3 chart.py [results/latest.csv] [../docs/perf.svg]
    python3 chart.py --table [results/latest.csv]   # Markdown tables to stdout
    python3 chart.py --paired [results/latest.csv]  # verified-pool / best other peer, round by round

One panel per worker count. In each panel, one group of bars per timed
workload and one bar per peer (same colour in every group): the peer's median
divided by the best peer's median, so the best peer is at 1 and lower is
better. Whiskers span the peer's min and max over the rounds (also divided by
the best median). The y axis is logarithmic.
"""

import csv
import html
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CSV = os.path.join(HERE, "results", "latest.csv")
DEFAULT_SVG = os.path.join(HERE, "..", "docs", "perf.svg")

# Timed metrics shown, in order, with a two-line label each.
METRICS = [
    ("exec_1p", ("execute x N", "1 producer")),
    ("exec_2p", ("execute x N", "2 producers")),
    ("pingpong_p50", ("ping-pong", "round trip p50")),
    ("pingpong_p99", ("ping-pong", "round trip p99")),
    ("pingpong_idle_p50", ("ping-pong after", "200 us idle, p50")),
    ("lifecycle", ("build + 100 tasks", "+ join")),
    ("submit_join", ("submit + join", "handle")),
]

PALETTE = {
    "verified-pool": "#d62728",
    "threadpool": "#1f77b4",
    "rusty_pool": "#2ca02c",
    "rayon": "#9467bd",
    "crossbeam-chan": "#ff7f0e",
    "mpsc+mutex": "#8c564b",
    "mutex+condvar": "#7f7f7f",
}
EXTRA_COLOURS = ["#17becf", "#bcbd22", "#e377c2", "#393b79", "#637939"]
HIGHLIGHT = "verified-pool"

WIDTH = 1100
PANEL_H = 330
TOP = 96
LEFT = 64
RIGHT = 20
PANEL_GAP = 70
Y_MIN = 0.8  # below 1 so the best peer's bar stays visible


def load(path):
    rows = {}
    peers = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            workers = int(r["workers"])
            if r["peer"] not in peers:
                peers.append(r["peer"])
            rows[(workers, r["metric"], r["peer"])] = (
                float(r["median"]),
                float(r["min"]),
                float(r["max"]),
                int(r["rounds"]),
            )
    return rows, peers


def colour_of(peers):
    colours = {}
    extra = iter(EXTRA_COLOURS)
    for p in peers:
        colours[p] = PALETTE.get(p) or next(extra, "#000000")
    return colours


def fmt_ratio(x):
    return f"{x:.1f}x" if x < 10 else f"{x:.0f}x"


def fmt_num(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def rows_by_metric(csv_path):
    """The CSV's rows grouped by (workers, metric), in the order met."""
    rows = {}
    with open(csv_path, newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault((int(r["workers"]), r["metric"]), []).append(r)
    return rows


def table(csv_path):
    """Prints one Markdown table per worker count: a row per metric and peer."""
    rows = rows_by_metric(csv_path)
    peers = []
    for key in rows:
        for r in rows[key]:
            if r["peer"] not in peers:
                peers.append(r["peer"])
    for workers in sorted({w for w, _ in rows}):
        print(f"#### {workers} workers: median (ratio to the best median)\n")
        print("| metric | unit | " + " | ".join(peers) + " |")
        print("|---|---|" + "--:|" * len(peers))
        for w, metric in rows:
            if w != workers:
                continue
            by_peer = {r["peer"]: r for r in rows[(w, metric)]}
            cells = []
            for p in peers:
                r = by_peer.get(p)
                if r is None:
                    cells.append("")
                    continue
                ratio = f"{float(r['ratio_to_best']):.2f}" if r["ratio_to_best"] else "-"
                cell = f"{fmt_num(float(r['median']))} ({ratio})"
                cells.append(f"**{cell}**" if ratio == "1.00" else cell)
            unit = rows[(w, metric)][0]["unit"]
            print(f"| {metric} | {unit} | " + " | ".join(cells) + " |")
        print()
    for workers in sorted({w for w, _ in rows}):
        print(f"#### {workers} workers: median, min, max per peer\n")
        print("| metric | unit | peer | median | min | max | x best |")
        print("|---|---|---|--:|--:|--:|--:|")
        for w, metric in rows:
            if w != workers:
                continue
            for r in rows[(w, metric)]:
                ratio = r["ratio_to_best"]
                ratio = f"{float(ratio):.2f}" if ratio else "-"
                peer = r["peer"]
                if ratio == "1.00":
                    ratio = f"**{ratio}**"
                if peer == "verified-pool":
                    peer = f"**{peer}**"
                print(f"| {metric} | {r['unit']} | {peer} | {fmt_num(float(r['median']))} | "
                      f"{fmt_num(float(r['min']))} | {fmt_num(float(r['max']))} | {ratio} |")
        print()


def paired(csv_path, ours=HIGHLIGHT, within=1.05):
    """Prints, per worker count and timed metric, how `ours` compares with
    the best other peer (by median) round by round.

    Peers take turns within every round, so the two values of one round met
    the same machine weather: their ratio is a paired comparison, and its
    spread over the rounds shows whether a gap between two medians is the
    pools' or the machine's."""
    rows = rows_by_metric(csv_path)
    series = {
        key: {
            r["peer"]: (float(r["median"]), [float(v) for v in r["values"].split(";")])
            for r in group
        }
        for key, group in rows.items()
    }
    timed = [m for m, _ in METRICS] + ["pingpong_idle_p99", "lifecycle_settled"]
    for workers in sorted({w for w, _ in rows}):
        print(f"#### {workers} workers: {ours} / best other peer, round by round\n")
        print(f"| metric | best other peer | ratio of medians | per-round ratio: median | min | max "
              f"| rounds <= {within:.2f} |")
        print("|---|---|--:|--:|--:|--:|--:|")
        for w, metric in rows:
            if w != workers or metric not in timed or ours not in series[(w, metric)]:
                continue
            others = {p: v for p, v in series[(w, metric)].items() if p != ours}
            if not others:
                continue
            best = min(others, key=lambda p: others[p][0])
            mine_median, mine = series[(w, metric)][ours]
            theirs_median, theirs = others[best]
            ratios = sorted(a / b for a, b in zip(mine, theirs) if b > 0)
            if not ratios:
                continue
            mid = len(ratios) // 2
            median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
            good = sum(1 for x in ratios if x <= within)
            print(f"| {metric} | {best} | {mine_median / theirs_median:.2f} | {median:.2f} "
                  f"| {ratios[0]:.2f} | {ratios[-1]:.2f} | {good}/{len(ratios)} |")
        print()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--paired":
        paired(sys.argv[2] if len(sys.argv) > 2 else DEFAULT_CSV)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        table(sys.argv[2] if len(sys.argv) > 2 else DEFAULT_CSV)
        return
    csv_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CSV
    svg_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_SVG
    rows, peers = load(csv_path)
    worker_counts = sorted({w for (w, _, _) in rows})
    metrics = [m for m in METRICS if any((w, m[0], p) in rows for w in worker_counts for p in peers)]
    colours = colour_of(peers)
    rounds = max((v[3] for v in rows.values()), default=0)

    # The y range: up to the largest whisker, rounded up to a power of two.
    top_value = 2.0
    for w in worker_counts:
        for key, _ in metrics:
            vals = [rows[(w, key, p)] for p in peers if (w, key, p) in rows]
            if not vals:
                continue
            best = min(v[0] for v in vals)
            if best > 0:
                top_value = max(top_value, max(v[2] for v in vals) / best)
    y_max = 2.0 ** math.ceil(math.log2(top_value * 1.15))

    height = TOP + len(worker_counts) * (PANEL_H + PANEL_GAP) + 30
    out = []
    add = out.append
    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif">')
    add(f'<rect width="{WIDTH}" height="{height}" fill="white"/>')
    add(f'<text x="{WIDTH / 2}" y="26" text-anchor="middle" font-size="19" font-weight="bold">'
        "verified-pool vs. other worker pools: time relative to the best peer</text>")
    add(f'<text x="{WIDTH / 2}" y="46" text-anchor="middle" font-size="12.5" fill="#444">'
        f"bar = median over {rounds} alternating rounds / best median (1 = best, lower is better, log scale); "
        "whiskers = min..max; 2-vCPU shared VM</text>")

    # Legend, centred on one row.
    item_w = [28 + 7.2 * len(p) + 18 for p in peers]
    x = (WIDTH - sum(item_w)) / 2
    for p, w in zip(peers, item_w):
        weight = ' font-weight="bold"' if p == HIGHLIGHT else ""
        add(f'<rect x="{x:.1f}" y="60" width="18" height="12" fill="{colours[p]}"/>')
        add(f'<text x="{x + 24:.1f}" y="70.5" font-size="13"{weight}>{html.escape(p)}</text>')
        x += w

    plot_w = WIDTH - LEFT - RIGHT
    lo, hi = math.log(Y_MIN), math.log(y_max)

    for i, w in enumerate(worker_counts):
        y0 = TOP + i * (PANEL_H + PANEL_GAP)
        y_bottom = y0 + PANEL_H

        def ypos(v):
            v = min(max(v, Y_MIN), y_max)
            return y_bottom - (math.log(v) - lo) / (hi - lo) * PANEL_H

        add(f'<text x="{LEFT}" y="{y0 - 8}" font-size="14" font-weight="bold">{w} worker threads</text>')
        # Grid and y ticks at powers of two.
        t = 1.0
        while t <= y_max:
            yy = ypos(t)
            add(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" '
                f'stroke="{"#999" if t == 1 else "#e3e3e3"}" stroke-width="1"/>')
            add(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11.5">{t:g}x</text>')
            t *= 2
        add(f'<line x1="{LEFT}" y1="{y0}" x2="{LEFT}" y2="{y_bottom}" stroke="#333"/>')
        add(f'<line x1="{LEFT}" y1="{y_bottom}" x2="{WIDTH - RIGHT}" y2="{y_bottom}" stroke="#333"/>')
        add(f'<text transform="translate(16,{y0 + PANEL_H / 2}) rotate(-90)" text-anchor="middle" '
            'font-size="12">median / best median</text>')

        group_w = plot_w / max(len(metrics), 1)
        bar_w = min(18.0, (group_w - 24) / max(len(peers), 1))
        for g, (key, label) in enumerate(metrics):
            gx = LEFT + g * group_w
            vals = {p: rows[(w, key, p)] for p in peers if (w, key, p) in rows}
            if not vals:
                continue
            best = min(v[0] for v in vals.values())
            n = len(vals)
            start = gx + (group_w - n * bar_w) / 2
            for k, p in enumerate(p for p in peers if p in vals):
                med, mn, mx, _ = vals[p]
                ratio = med / best if best > 0 else 1.0
                bx = start + k * bar_w
                top_y = ypos(ratio)
                title = (f"{p} @ {w} workers, {key}: median {med:.1f}, min {mn:.1f}, max {mx:.1f} "
                         f"({ratio:.2f}x best)")
                outline = ' stroke="black" stroke-width="1.2"' if p == HIGHLIGHT else ""
                add(f'<rect x="{bx + 1:.1f}" y="{top_y:.1f}" width="{bar_w - 2:.1f}" '
                    f'height="{y_bottom - top_y:.1f}" fill="{colours[p]}"{outline}>'
                    f"<title>{html.escape(title)}</title></rect>")
                if best > 0:
                    cx = bx + bar_w / 2
                    y_lo, y_hi = ypos(mn / best), ypos(mx / best)
                    add(f'<line x1="{cx:.1f}" y1="{y_lo:.1f}" x2="{cx:.1f}" y2="{y_hi:.1f}" stroke="#222" stroke-width="1"/>')
                    for yy in (y_lo, y_hi):
                        add(f'<line x1="{cx - 3:.1f}" y1="{yy:.1f}" x2="{cx + 3:.1f}" y2="{yy:.1f}" stroke="#222" stroke-width="1"/>')
                if p == HIGHLIGHT:
                    ly = min(top_y, ypos(mx / best) if best > 0 else top_y) - 5
                    add(f'<text x="{bx + bar_w / 2:.1f}" y="{max(ly, y0 + 10):.1f}" text-anchor="middle" '
                        f'font-size="11" font-weight="bold" fill="{colours[p]}">{fmt_ratio(ratio)}</text>')
            add(f'<text x="{gx + group_w / 2:.1f}" y="{y_bottom + 17}" text-anchor="middle" font-size="12.5">'
                f'{html.escape(label[0])}</text>')
            add(f'<text x="{gx + group_w / 2:.1f}" y="{y_bottom + 32}" text-anchor="middle" font-size="12.5">'
                f'{html.escape(label[1])}</text>')
            if g > 0:
                add(f'<line x1="{gx:.1f}" y1="{y0}" x2="{gx:.1f}" y2="{y_bottom}" stroke="#f0f0f0"/>')

    add(f'<text x="{LEFT}" y="{height - 28}" font-size="11.5" fill="#444">'
        "build + 100 tasks + join: threadpool, rusty_pool and rayon return from shutdown without joining their "
        "threads (they exit detached);</text>")
    add(f'<text x="{LEFT}" y="{height - 12}" font-size="11.5" fill="#444">'
        "verified-pool and the three hand-written pools (crossbeam-chan, mpsc+mutex, mutex+condvar) join them. "
        "Method and caveats: docs/PERFORMANCE.md</text>")
    add("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(svg_path)), exist_ok=True)
    with open(svg_path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {svg_path}")


if __name__ == "__main__":
    main()
