"""The chart of bench/suite.py: one panel per group of figures, each bar a ratio of
wsgi-wasm's figure over a peer's (log scale), a line at 1.0 and the issue's targets.

    python bench/suite_chart.py bench/results/suite.json [out.png]   # redraw from a JSON
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

GROUPS = [  # (panel, title, which figures): two panels a row, similar sizes side by side
    ("dynamic-hello", "Hello world: requests per server CPU-second",
     lambda f: f["group"] == "dynamic-hello"),
    ("dynamic-10k", "10 KiB response: requests per server CPU-second",
     lambda f: f["group"] == "dynamic-10k"),
    ("latency-p50", "Hello world, open loop: p50 latency",
     lambda f: f["group"] == "latency" and f.get("percentile") == "p50"),
    ("latency-p99", "Hello world, open loop: p99 latency",
     lambda f: f["group"] == "latency" and f.get("percentile") == "p99"),
    ("static", "Static files vs nginx: requests per server CPU-second",
     lambda f: f["group"] == "static"),
    ("frameworks", "Flask and Django pages: requests per server CPU-second",
     lambda f: f["group"] == "frameworks"),
    ("memory-sites", "Memory (PSS) with N configured sites",
     lambda f: f["group"] == "memory-sites"),
    ("memory-instances", "Memory (PSS) with N requests in flight",
     lambda f: f["group"] == "memory-instances"),
    ("startup", "Start: `serve` to the first response",
     lambda f: f["group"] == "startup" and "idle" not in f["name"]),
    ("startup-idle", "First request to an idle site",
     lambda f: f["group"] == "startup" and "idle" in f["name"]),
]


def short(figure: dict) -> str:
    """A bar's label: what is compared, without the panel's own words."""
    name = figure["name"]
    for prefix in ("hello world: ", "10 KiB response: ", "hello world at ", "static "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = re.sub(r"^\d+ req/s, p\d+: ", "", name)
    match = re.match(r"(\d+) requests in flight: wsgi-wasm .* vs gunicorn \((\d+) sync workers\)", name)
    if match:
        return f"{match.group(1)} in flight: wsgi-wasm vs gunicorn, {match.group(2)} workers"
    for old, new in (("wsgi-wasm (fresh instance)", "wsgi-wasm fresh"),
                     (" configured sites", " sites"), (": wsgi-wasm vs gunicorn per app site", ""),
                     ("requests in flight: ", "in flight: "), ("serve to first ", "start: "),
                     (" (wsgi-wasm)", "")):
        name = name.replace(old, new)
    return name if len(name) <= 60 else name[:57] + "..."


def ratio_ticks(ax, low: float, high: float) -> None:
    """Log-scale x ticks at 1-2-5 steps, written as ratios (0.5x, 2x)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    import math

    span = math.log10(high / low)
    steps = (1,) if span > 2.6 else (1, 3) if span > 1.6 else (1, 2, 5)
    ticks = [m * 10 ** e for e in range(-4, 4) for m in steps if low <= m * 10 ** e <= high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def draw(suite: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for _, title, pick in GROUPS:
        chosen = [f for f in suite["figures"] if pick(f)]
        if chosen:
            panels.append((title, chosen))
    if not panels:
        panels = [("no figures", [])]
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    sizes = [max(2, len(chosen)) for _, chosen in panels]
    row_sizes = [max(sizes[i:i + cols]) for i in range(0, len(sizes), cols)]
    fig, axes = plt.subplots(rows, cols, figsize=(17, 1.6 + 0.3 * sum(row_sizes) + 1.2 * rows),
                             gridspec_kw={"height_ratios": row_sizes}, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for index, (ax, (title, chosen)) in enumerate(zip(axes.flat, panels)):
        figures = [f for f in chosen if f["ratio"]]
        slots = row_sizes[index // cols]  # every bar as thick as in the fullest panel
        if not figures:
            ax.set_title(f"{title}\n(no figures: {', '.join(suite.get('failures', {})) or 'not run'})",
                         fontsize=10)
            ax.axis("off")
            continue
        better = {f["better"] for f in figures}
        direction = ("higher is better" if better == {"higher"} else
                     "lower is better" if better == {"lower"} else "see labels")
        y = list(range(slots - 1, slots - 1 - len(figures), -1))
        ratios = [f["ratio"] for f in figures]
        colors = []
        for f in figures:
            good = f["ratio"] >= 1 if f["better"] == "higher" else f["ratio"] <= 1
            if "target_met" in f:
                good = f["target_met"]
            colors.append("#3a8f4b" if good else "#d08a2b")
        ax.barh(y, ratios, color=colors, height=0.62)
        ax.set_xscale("log")
        ax.set_ylim(-0.6, slots - 0.4)
        ax.set_yticks(y)
        ax.set_yticklabels([short(f) for f in figures], fontsize=7.5)
        low = min(min(ratios), *(f.get("target_ratio", 1) for f in figures), 1) / 1.8
        high = max(max(ratios), *(f.get("target_ratio", 1) for f in figures), 1) * 2.2
        ax.set_xlim(low, high)
        ratio_ticks(ax, low, high)
        ax.axvline(1.0, color="black", linewidth=1)
        for yi, f in zip(y, figures):
            ax.text(f["ratio"] * 1.04, yi, f"{f['ratio']:.2f}x", va="center", fontsize=7)
            if "target_ratio" in f:
                ax.plot([f["target_ratio"]] * 2, [yi - 0.42, yi + 0.42], color="#c0392b",
                        linewidth=2.2)
                ax.text(f["target_ratio"] * 1.03, yi + 0.3, f"target {f['target_ratio']:g}x",
                        color="#c0392b", fontsize=6.5, ha="left", va="center")
        unit = figures[0]["unit"]
        if figures[0].get("rate_rps"):
            title += f" at {figures[0]['rate_rps']} req/s"
        ax.set_title(f"{title}\nwsgi-wasm / peer ({unit}; {direction})", fontsize=9.5)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", which="both", alpha=0.25)
    machine = suite.get("machine", {})
    load = machine.get("loadavg_1m_min_max", ["?", "?"])
    profile = suite.get("versions", {}).get("wsgi_wasm_profile", "?")
    fig.suptitle(
        f"wsgi-wasm benchmark suite{' (SMOKE: not a measurement)' if suite.get('smoke') else ''} — "
        f"{suite.get('date', '?')}, commit {str(suite.get('git_commit', '?'))[:10]}, {profile} build, "
        f"{machine.get('cpus', '?')} CPUs ({machine.get('cpu', '?')}), load avg {load[0]}–{load[1]}; "
        f"medians of {suite.get('config', {}).get('rounds', '?')} rounds. "
        "Green: on the good side of 1.0 (or target met); red ticks: the issue's targets."
        + (f" FAILED scenarios: {', '.join(suite['failures'])}." if suite.get("failures") else ""),
        fontsize=9.5, wrap=True)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    source = Path(sys.argv[1])
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_suffix(".png")
    print(draw(json.loads(source.read_text()), target))
