#!/usr/bin/env python3
"""Benchmark suite: every scenario of the performance issue side by side in one run, written
to one JSON file (`suite.json`: every figure with its unit, the peer it is compared with, the
ratio, the rounds, the machine, the commit, the date) and one chart (`suite.png`).

Scenarios (`--scenarios`), in the order they run:

  dynamic     hello world (`/`) and a 10 KiB response (`/10k`) of one WSGI app
              (bench/sites/suite/app.py), served by wsgi-wasm with reused instances, wsgi-wasm
              with a fresh instance per request (`isolation = "request"`), Granian, gunicorn
              (gthread), uWSGI and waitress: requests per server CPU-second (wrk, closed loop)
  latency     the same six servers at one fixed request rate (open loop, oha with
              coordinated-omission correction): p50 and p99
  static      1 KiB and 1 MiB files, wsgi-wasm vs nginx (bench/static.py)
  frameworks  a Flask and a Django page, wsgi-wasm vs gunicorn and Granian (bench/frameworks.py)
  memory      wsgi-wasm's RSS and PSS with 1, 50 and 500 configured sites and with 1, 50 and
              200 live instances, beside gunicorn (one master and worker per app site; one
              sync worker per request in flight)
  startup     `serve` to the first response with a warm build cache, beside the peers' start
              to first response; and the first request to an idle site (its instances dropped
              by `idle_timeout`) beside a request to the same site warm

Servers run pinned to `--server-cpu`, load generators to `--client-cpu`. Before any timing,
every server must answer every measured URL 200 with the expected body, over a whole wrk run
that checks each response; the measured runs fail on any socket error or non-2xx/3xx answer.
Figures are medians over `--rounds` rounds, the server order rotating from round to round;
every ratio compares servers measured in this run.

`--smoke`: every scenario once with tiny durations, outputs to a temporary folder; any broken
scenario (a non-200, a server that does not start) makes the run fail. Run the suite through
`bench/suite.sh`, which installs the tools and peers; this script expects `bench/.venv`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import frameworks
import hello
import static
from hello import (
    BENCH_DIR,
    REPO,
    WRK_LUA,
    BenchError,
    Server,
    log,
    measure,
    median,
    process_tree,
    timed_start,
)

APP_SOURCE = BENCH_DIR / "sites" / "suite" / "app.py"
SCENARIOS = ("dynamic", "latency", "static", "frameworks", "memory", "startup", "rebuilds")
# name: (path, what the chart calls it)
PATHS = {"hello": ("/", "hello world"), "10k": ("/10k", "10 KiB response")}
WASM = ("wsgi-wasm", "wsgi-wasm-fresh")  # reused instances; a fresh instance per request
PEERS = ("granian", "gunicorn", "uwsgi", "waitress")
LABELS = {"wsgi-wasm": "wsgi-wasm", "wsgi-wasm-fresh": "wsgi-wasm (fresh instance)",
          "granian": "Granian", "gunicorn": "gunicorn", "uwsgi": "uWSGI",
          "waitress": "waitress", "nginx": "nginx"}
# The targets, as ratios of wsgi-wasm's figure over the peer's.
TARGETS = {
    ("dynamic", "hello", "wsgi-wasm", "granian"): 0.5,
    ("dynamic", "hello", "wsgi-wasm", "gunicorn"): 5.0,
    ("static", "1k", "wsgi-wasm", "nginx"): 0.8,
}
SMOKE = {  # option: value under --smoke (an explicit option still wins)
    "rounds": 1, "duration": "1s", "warmup": "1s", "warm_starts": 1,
    "latency_duration": "2s", "memory_app_sites": 1, "instances": "1,50",
    "sleep": 3.0, "idle_rounds": 1, "warm_requests": 5, "rebuilds": 1,
}


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


class Report:
    """Every figure of the run, as the JSON lists them."""

    def __init__(self):
        self.figures: list[dict] = []

    def add(self, group: str, name: str, value: float, unit: str, peer: str,
            peer_value: float, better: str, rounds: int, per_round=None, target=None,
            note: str | None = None, **extra) -> dict:
        """One figure: wsgi-wasm's `value` against `peer`'s `peer_value` (same unit);
        `better` is "higher" or "lower"; `target` a ratio to reach."""
        ratio = round(value / peer_value, 3) if value is not None and peer_value else None
        figure = {
            "group": group, "name": name, "value": value, "unit": unit, "peer": peer,
            "peer_value": peer_value, "ratio": ratio, "better": better, "rounds": rounds,
        }
        if per_round is not None:
            figure["per_round_ratios"] = per_round
        if target is not None:
            figure["target_ratio"] = target
            figure["target_met"] = ratio is not None and (
                ratio >= target if better == "higher" else ratio <= target)
        if note:
            figure["note"] = note
        figure.update(extra)
        self.figures.append(figure)
        return figure


def ratio_of(a, b):
    return round(a / b, 3) if a is not None and b else None


# --------------------------------------------------------------------------
# Sites and servers
# --------------------------------------------------------------------------


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def app_site(sites: Path, name: str, limits: dict | None = None, default: bool = True) -> Path:
    """A wsgi-wasm site of the suite's app: `<sites>/<name>/src/app.py` with a site.toml.
    The app sits in `src/` (its python_path) so that the site.toml, which the scenarios vary,
    is not part of the build's cache key: every site named `hello` shares one build."""
    site = sites / name
    (site / "src").mkdir(parents=True, exist_ok=True)
    shutil.copy2(APP_SOURCE, site / "src" / "app.py")
    lines = [f'server_names = ["{name}.test"]', f"default = {toml_value(default)}", "",
             "[app]", 'module = "app"', 'callable = "application"', 'python_path = ["src"]']
    if limits:
        lines += ["", "[limits]"] + [f"{k} = {toml_value(v)}" for k, v in limits.items()]
    (site / "site.toml").write_text("\n".join(lines) + "\n")
    return site


def static_site(sites: Path, name: str) -> bytes:
    """A static-only wsgi-wasm site whose index is `<name>\\n`; returns that body."""
    public = sites / name / "public"
    public.mkdir(parents=True, exist_ok=True)
    body = f"{name}\n".encode()
    (public / "index.html").write_bytes(body)
    (sites / name / "site.toml").write_text(
        f'server_names = ["{name}.test"]\n\n[static]\nroot = "public"\n')
    return body


def native_app(work: Path) -> Path:
    """The folder the native peers serve the app from (`app:application`)."""
    folder = work / "native"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(APP_SOURCE, folder / "app.py")
    return folder


def wasm_server(args, sites: Path, log_dir: Path, tag: str, admin: bool = False) -> Server:
    return Server(
        name=f"wsgi-wasm ({tag})",
        argv=[args.wsgi_wasm_bin, "serve", "--admin", "127.0.0.1:0" if admin else "off",
              "--listen", "127.0.0.1:0", "--sites", str(sites), "--state", str(args.state)],
        log_path=log_dir / f"wsgi-wasm-{tag}.log",
        stdout_path=log_dir / f"wsgi-wasm-{tag}.stdout",
    )


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def uwsgi_server(args, log_dir: Path, app_dir: Path, tag: str) -> Server:
    """uWSGI as it serves HTTP on its own: its HTTP router process (keep-alive on) in front of
    one worker process with gunicorn's thread count. With `--http11-socket` instead, a worker
    thread stays with one kept-alive connection: 4 threads for 32 connections gave a p99 of
    2 s at a low fixed rate. The router's buffer is 64 KiB: with its default (a page), the
    10 KiB answer went out in pieces that waited for delayed ACKs, 40 ms each response."""
    port = hello.free_port()
    return Server(
        name="uwsgi",
        argv=[venv_bin("uwsgi"), "--master", "--processes", "1",
              "--threads", str(args.gunicorn_threads),
              "--http", f"127.0.0.1:{port}", "--http-keepalive", "--http-buffer-size", "65536",
              "--chdir", str(app_dir),
              "--wsgi-file", "app.py", "--callable", "application", "--need-app",
              "--die-on-term", "--disable-logging"],
        port=port,
        log_path=log_dir / f"uwsgi-{tag}.log",
    )


def waitress_server(args, log_dir: Path, app_dir: Path, tag: str) -> Server:
    """waitress (one process, a thread pool) with gunicorn's thread count."""
    port = hello.free_port()
    return Server(
        name="waitress",
        argv=[venv_bin("waitress-serve"), f"--listen=127.0.0.1:{port}",
              f"--threads={args.gunicorn_threads}", "app:application"],
        port=port,
        cwd=app_dir,
        log_path=log_dir / f"waitress-{tag}.log",
    )


def peer_server(args, name: str, log_dir: Path, app_dir: Path, tag: str) -> Server:
    if name == "granian":
        return hello.granian_server(args, log_dir, app_dir=app_dir, tag=f"-{tag}")
    if name == "gunicorn":
        return hello.gunicorn_server(args, log_dir, app_dir=app_dir, tag=f"-{tag}")
    if name == "uwsgi":
        return uwsgi_server(args, log_dir, app_dir, tag)
    return waitress_server(args, log_dir, app_dir, tag)


def at(server: Server, path: str) -> Server:
    """The server aimed at `path` (hello's wrk drivers use `server.url`)."""
    server.url = "/".join(server.url.split("/", 3)[:3]) + path
    return server


def admin_url(server: Server, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(rb"Admin on (http://\S+/)", server.stdout_path.read_bytes())
        if match:
            return match.group(1).decode()
        time.sleep(0.01)
    raise server.fail("printed no `Admin on` line")


def get(url: str, path: str, host: str | None = None, timeout: float = 30) -> tuple[int, bytes]:
    """One GET on a new connection: (status, body)."""
    netloc = url.split("/")[2]
    conn = http.client.HTTPConnection(netloc, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def live_instances(server: Server, admin: str, site: str = "hello") -> int:
    _, body = get(admin, "/metrics")
    match = re.search(rf'^wsgi_wasm_instances{{site="{re.escape(site)}"}} (\d+)',
                      body.decode(), re.M)
    if not match:
        raise server.fail(f"/metrics has no wsgi_wasm_instances for `{site}`")
    return int(match.group(1))


def tree_memory(root: int) -> dict:
    """RSS and PSS (MiB) summed over a process tree, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    pids = process_tree(root)
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"^Rss:\s+(\d+) kB", text, re.M).group(1))
        pss += int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))
    return {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1), "processes": len(pids)}


# --------------------------------------------------------------------------
# Scenario: dynamic (closed loop) and latency (open loop at a fixed rate)
# --------------------------------------------------------------------------


def expected(path: str, query: str = "") -> bytes:
    """The suite app's answer to GET `path`, run in-process: what every server must send."""
    status, body = hello.expected_response(APP_SOURCE.parent, path, query)
    if status != 200:
        raise BenchError(f"{APP_SOURCE} answers {path} with {status}, not 200")
    return body


def start_dynamic(ctx) -> dict[str, Server]:
    """The six servers of the dynamic scenarios, started and answering hello right."""
    args, work, logs = ctx.args, ctx.work / "dynamic", ctx.logs
    reused = work / "wasm-reused"
    fresh = work / "wasm-fresh"
    app_site(reused, "hello")
    app_site(fresh, "hello", {"isolation": "request"})
    native = native_app(work)
    servers: dict[str, Server] = {}
    for name in (*WASM, *PEERS):
        if name in ctx.unavailable:
            log(f"{name}: not available ({ctx.unavailable[name]}); left out")
            continue
        if name in WASM:
            server = wasm_server(args, reused if name == "wsgi-wasm" else fresh, logs, name)
            server.name = name
        else:
            server = peer_server(args, name, logs, native, "dynamic")
        log(f"{name}: starting ({' '.join(server.argv)})")
        server.start(args.server_cpu)
        server.wait_ready(args.start_timeout if name in WASM else 60, (200, ctx.bodies["hello"]))
        servers[name] = server
        ctx.commands[name] = ["taskset", "-c", args.server_cpu, *server.argv]
    return servers


def scenario_dynamic(ctx) -> dict:
    args = ctx.args
    servers = start_dynamic(ctx)
    ctx.dynamic_servers = servers
    measure_lua = ctx.logs / "measure.lua"
    measure_lua.write_text(WRK_LUA)
    result = {"servers": list(servers), "paths": {}}
    names = list(servers)
    for key, (path, what) in PATHS.items():
        verify = ctx.logs / f"verify-{key}.lua"
        verify.write_text(hello.verify_lua(ctx.bodies[key]))
        for name, server in servers.items():
            hello.verify_responses(args, at(server, path), verify, args.client_cpu,
                                   ctx.check_for, f"{what}, {path}")
        rounds = {name: [] for name in names}
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                run = measure(args, at(servers[name], path), measure_lua)
                run["round"] = r + 1
                rounds[name].append(run)
                log(f"dynamic {key} round {r + 1}/{args.rounds} {name:15}: {hello.describe(run)}")
                time.sleep(0.3)
        summary = hello.summarize(rounds)
        result["paths"][key] = {"path": path, "bytes": len(ctx.bodies[key]),
                                "rounds": rounds, "medians": summary}
        for wasm in WASM:
            if wasm not in summary:
                continue
            for peer in PEERS:
                if peer not in summary:
                    continue
                per_round = [ratio_of(a["rps_per_cpu_s"], b["rps_per_cpu_s"])
                             for a, b in zip(rounds[wasm], rounds[peer])]
                ctx.report.add(
                    f"dynamic-{key}", f"{what}: {LABELS[wasm]} vs {LABELS[peer]}",
                    summary[wasm]["rps_per_cpu_s"], "requests per server CPU-second", peer,
                    summary[peer]["rps_per_cpu_s"], "higher", args.rounds, per_round,
                    target=TARGETS.get(("dynamic", key, wasm, peer)), server=wasm,
                    requests_per_second=summary[wasm]["rps"],
                    peer_requests_per_second=summary[peer]["rps"])
        fresh_cost(ctx, key, what, summary)
    for key, (path, _) in PATHS.items():
        for server in servers.values():
            hello.curl_check(at(server, path), (200, ctx.bodies[key]))  # still right
    return result


def fresh_cost(ctx, key: str, what: str, summary: dict) -> None:
    """What a fresh instance per request costs: the server CPU per request with
    `isolation = "request"` minus that with reused instances (instantiation, the first call
    into a new instance, and tearing it down), beside the CPU a whole gunicorn request takes."""
    if not {"wsgi-wasm", "wsgi-wasm-fresh", "gunicorn"} <= summary.keys():
        return
    per_request = {name: 1e6 / summary[name]["rps_per_cpu_s"]
                   for name in ("wsgi-wasm", "wsgi-wasm-fresh", "gunicorn")}
    extra = round(per_request["wsgi-wasm-fresh"] - per_request["wsgi-wasm"], 1)
    ctx.report.add(
        "fresh-instance", f"{what}: a fresh instance's extra server CPU per request vs a "
        "whole gunicorn request", extra, "µs of server CPU per request", "gunicorn",
        round(per_request["gunicorn"], 1), "lower", ctx.args.rounds,
        note="fresh-instance request minus reused-instance request (median throughputs); "
             "the issue's target is instantiation at most 200 µs")


def openloop_run(ctx, server: Server, rate: int) -> dict:
    """The same run with openloop.py (when oha is not installed: the CI smoke)."""
    args = ctx.args
    seconds = hello.parse_seconds(args.latency_duration)
    argv = ["taskset", "-c", args.client_cpu, sys.executable, str(Path(__file__).with_name("openloop.py")),
            server.url, str(rate), str(seconds), str(args.latency_connections)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        stats = json.loads(result.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        raise server.fail("openloop.py failed or did not finish")
    codes = stats["status_codes"]
    if set(codes) != {"200"}:
        raise server.fail(f"openloop.py at {rate} req/s: statuses {codes}: every answer must be a 200")
    return {
        "requests": stats["requests"],
        "achieved_rps": round(stats["achieved_rps"], 1),
        "latency_p50_ms": round(stats["p50"] * 1000, 3),
        "latency_p99_ms": round(stats["p99"] * 1000, 3),
        "latency_max_ms": round(stats["slowest"] * 1000, 3),
        "loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
    }


def oha_run(ctx, server: Server, rate: int) -> dict:
    """One open-loop run of oha at `rate` requests per second: its latency percentiles,
    corrected for coordinated omission (measured from when each request was due)."""
    args = ctx.args
    if ctx.oha is None:
        return openloop_run(ctx, server, rate)
    seconds = hello.parse_seconds(args.latency_duration)
    argv = ["taskset", "-c", args.client_cpu, ctx.oha, "--no-tui", "--output-format", "json",
            "-z", args.latency_duration, "-q", str(rate), "-c", str(args.latency_connections),
            "--latency-correction", "--wait-ongoing-requests-after-deadline", server.url]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise server.fail(f"oha did not finish within {seconds + 60:.0f} s")
    try:
        stats = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise server.fail(f"oha failed (exit {result.returncode}):\n{result.stdout[-2000:]}\n"
                          f"{result.stderr[-2000:]}")
    codes = {str(k): v for k, v in stats.get("statusCodeDistribution", {}).items()}
    errors = stats.get("errorDistribution", {})
    total = sum(codes.values())
    if errors or set(codes) != {"200"} or total == 0:
        raise server.fail(f"oha at {rate} req/s: statuses {codes}, errors {errors}: "
                          "every answer must be a 200")
    percentiles = stats["latencyPercentiles"]
    return {
        "requests": total,
        "achieved_rps": round(stats["summary"]["requestsPerSec"], 1),
        "latency_p50_ms": round(percentiles["p50"] * 1000, 3),
        "latency_p99_ms": round(percentiles["p99"] * 1000, 3),
        "latency_max_ms": round(stats["summary"]["slowest"] * 1000, 3),
        "loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
    }


def scenario_latency(ctx) -> dict:
    args = ctx.args
    servers = getattr(ctx, "dynamic_servers", None) or start_dynamic(ctx)
    ctx.dynamic_servers = servers
    path = PATHS["hello"][0]
    closed = ctx.results.get("dynamic", {}).get("paths", {}).get("hello", {}).get("medians")
    if args.rate:
        rate, why = args.rate, "--rate"
    elif closed:
        slowest = min(closed, key=lambda n: closed[n]["rps"])
        rate = max(1, int(closed[slowest]["rps"] * args.rate_share))
        why = (f"{args.rate_share:.0%} of the slowest server's closed-loop throughput "
               f"({slowest}, {closed[slowest]['rps']:.0f} req/s)")
    else:
        raise BenchError("the latency scenario needs the dynamic one's throughputs or --rate")
    log(f"latency: {rate} req/s for every server ({why}), {args.latency_connections} connections, "
        f"{args.latency_duration} per run")
    names = list(servers)
    rounds = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            run = oha_run(ctx, at(servers[name], path), rate)
            run["round"] = r + 1
            rounds[name].append(run)
            log(f"latency round {r + 1}/{args.rounds} {name:15}: p50 {run['latency_p50_ms']:.2f} ms, "
                f"p99 {run['latency_p99_ms']:.2f} ms, {run['achieved_rps']:.0f} req/s")
            time.sleep(0.3)
    medians = {name: {k: median([run[k] for run in runs])
                      for k in ("latency_p50_ms", "latency_p99_ms", "achieved_rps", "loadavg_1m")}
               for name, runs in rounds.items()}
    for wasm in WASM:
        if wasm not in medians:
            continue
        for peer in PEERS:
            if peer not in medians:
                continue
            for q in ("p50", "p99"):
                key = f"latency_{q}_ms"
                ctx.report.add(
                    "latency", f"hello world at {rate} req/s, {q}: {LABELS[wasm]} vs {LABELS[peer]}",
                    medians[wasm][key], "ms", peer, medians[peer][key], "lower", args.rounds,
                    [ratio_of(a[key], b[key]) for a, b in zip(rounds[wasm], rounds[peer])],
                    server=wasm, percentile=q, rate_rps=rate)
    for server in servers.values():
        hello.curl_check(at(server, path), (200, ctx.bodies["hello"]))
        server.stop()
    ctx.dynamic_servers = None
    return {"rate_rps": rate, "rate_from": why, "tool": ctx.oha_version,
            "connections": args.latency_connections, "duration": args.latency_duration,
            "rounds": rounds, "medians": medians}


def stop_dynamic(ctx) -> None:
    for server in (getattr(ctx, "dynamic_servers", None) or {}).values():
        server.stop()
    ctx.dynamic_servers = None


# --------------------------------------------------------------------------
# Scenarios: static and frameworks (bench/static.py, bench/frameworks.py)
# --------------------------------------------------------------------------


def common_argv(args) -> list[str]:
    return ["--rounds", str(args.rounds), "--duration", args.duration, "--warmup", args.warmup,
            "--connections", str(args.connections), "--wrk-threads", str(args.wrk_threads),
            "--wsgi-wasm-bin", args.wsgi_wasm_bin, "--results", str(args.parts),
            "--server-cpu", args.server_cpu, "--client-cpu", args.client_cpu,
            "--state", str(args.state)]


def scenario_static(ctx) -> dict:
    args = ctx.args
    if "nginx" in ctx.unavailable:
        raise BenchError(f"nginx is not available: {ctx.unavailable['nginx']}")
    sub = static.parse_args(common_argv(args) + ["--nginx", args.nginx])
    report = static.bench(sub)
    for file, by_server in report["medians"].items():
        size = "1 KiB" if file == "1k" else "1 MiB"
        ctx.report.add(
            "static", f"static {size} file: wsgi-wasm vs nginx",
            by_server["wsgi-wasm"]["rps_per_cpu_s"], "requests per server CPU-second", "nginx",
            by_server["nginx"]["rps_per_cpu_s"], "higher", args.rounds,
            report["per_round_ratios"][file], target=TARGETS.get(("static", file, "wsgi-wasm", "nginx")),
            server="wsgi-wasm")
    return {"results_file": report["results_file"], "medians": report["medians"],
            "ratios": report["ratios_wsgi_wasm_over_nginx_rps_per_cpu_s"],
            "nginx": report["versions"]["nginx"]}


def scenario_frameworks(ctx) -> dict:
    args = ctx.args
    sub = frameworks.parse_args(
        common_argv(args) + ["--warm-starts", str(args.warm_starts), "--pages", args.pages,
                             "--start-timeout", str(args.start_timeout),
                             "--gunicorn-threads", str(args.gunicorn_threads),
                             "--gunicorn-opts", args.gunicorn_opts,
                             "--granian-opts", args.granian_opts])
    report = frameworks.bench(sub)
    names = {"flask": "Flask page", "django": "Django page", "django-db": "Django page + sqlite"}
    for page, summary in report["medians"].items():
        for peer in ("granian", "gunicorn"):
            if peer in summary and "wsgi-wasm" in summary:
                ctx.report.add(
                    "frameworks", f"{names.get(page, page)}: wsgi-wasm vs {LABELS[peer]}",
                    summary["wsgi-wasm"]["rps_per_cpu_s"], "requests per server CPU-second", peer,
                    summary[peer]["rps_per_cpu_s"], "higher", args.rounds,
                    report["per_round_ratios_rps_per_cpu_s"][page].get(f"wsgi-wasm/{peer}"),
                    server="wsgi-wasm", page=page)
    starts = report["start_to_first_response"]
    for page, by_server in starts.items():
        for peer in ("granian", "gunicorn"):
            if peer in by_server and "wsgi-wasm" in by_server:
                ctx.report.add(
                    "startup", f"serve to first {names.get(page, page)}: wsgi-wasm vs {LABELS[peer]}",
                    by_server["wsgi-wasm"]["median_ms"], "ms", peer, by_server[peer]["median_ms"],
                    "lower", args.warm_starts, server="wsgi-wasm", page=page,
                    note="warm build cache; median of fresh starts")
    return {"results_file": report["results_file"], "medians": report["medians"],
            "ratios": report["ratios_rps_per_cpu_s"], "start_to_first_response": starts,
            "packages": report["versions"].get("packages")}


# --------------------------------------------------------------------------
# Scenario: memory
# --------------------------------------------------------------------------


def settle_memory(root: int, seconds: float = 1.0) -> dict:
    time.sleep(seconds)
    return tree_memory(root)


def in_flight(url: str, count: int, seconds: float, host: str | None = None):
    """`count` GET /sleep?s=`seconds` requests at once, each on its own thread and
    connection. Returns (threads, answers): join the threads, then read the answers."""
    answers: list = [None] * count

    def one(i):
        try:
            answers[i] = get(url, f"/sleep?s={seconds}", host, timeout=seconds + 60)
        except OSError as error:
            answers[i] = (0, str(error).encode())

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def check_answers(server: Server, threads, answers, expect: bytes, what: str) -> None:
    for thread in threads:
        thread.join(timeout=120)
    wrong = [a for a in answers if a is None or a != (200, expect)]
    if wrong:
        raise server.fail(f"{what}: {len(wrong)} of {len(answers)} answers were not 200 "
                          f"{expect!r}: {wrong[:3]}")


def gunicorn_workers(args, log_dir: Path, app_dir: Path, workers: int, tag: str) -> Server:
    """gunicorn with `workers` sync workers: one request at a time each."""
    port = hello.free_port()
    return Server(
        name="gunicorn",
        argv=[venv_bin("gunicorn"), "--bind", f"127.0.0.1:{port}", "--chdir", str(app_dir),
              "--worker-class", "sync", "--workers", str(workers), "--no-control-socket",
              "--timeout", "120", "--backlog", "2048", "app:application"],
        port=port,
        log_path=log_dir / f"gunicorn-{tag}.log",
    )


def wait_processes(server: Server, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(process_tree(server.proc.pid)) >= count:
            return
        if server.proc.poll() is not None:
            raise server.fail("exited while its workers were starting")
        time.sleep(0.2)
    raise server.fail(f"fewer than {count} processes after {timeout:.0f} s")


def scenario_memory(ctx) -> dict:
    args, logs = ctx.args, ctx.logs
    work = ctx.work / "memory"
    native = native_app(work)
    hello_body, slept = ctx.bodies["hello"], ctx.bodies["sleep"]
    result = {"sites": {}, "instances": {}, "gunicorn": {}}

    # gunicorn, one app site: a master and one gthread worker, as in the other scenarios.
    one = hello.gunicorn_server(args, logs, app_dir=native, tag="-memory")
    one.start(args.server_cpu)
    one.wait_ready(60, (200, hello_body))
    wait_processes(one, 2)
    gunicorn_site = settle_memory(one.proc.pid)
    one.stop()
    result["gunicorn"]["one_site"] = gunicorn_site
    log(f"memory: gunicorn (master + 1 gthread worker) for one site: {gunicorn_site}")

    # wsgi-wasm with N configured sites: the first `--memory-app-sites` are app sites (the
    # first is `hello`, whose build the other scenarios share), the rest static sites.
    for n in args.memory_sites:
        sites = work / f"sites-{n}"
        apps = min(n, args.memory_app_sites)
        bodies = {}
        for i in range(n):
            if i < apps:
                name = "hello" if i == 0 else f"app{i:03d}"
                app_site(sites, name, default=(i == 0))
                bodies[name] = hello_body
            else:
                name = f"static{i:03d}"
                bodies[name] = static_site(sites, name)
        # A first start builds what the cache lacks; the server that compiled components
        # keeps the compiler's memory, so the figure comes from a second, warm start.
        timed_start(wasm_server(args, sites, logs, f"sites-{n}-first"), args.server_cpu,
                    args.start_timeout, (200, hello_body))
        server = wasm_server(args, sites, logs, f"sites-{n}")
        server.start(args.server_cpu)
        server.wait_ready(args.start_timeout, (200, hello_body))
        idle = settle_memory(server.proc.pid)
        for name, body in bodies.items():
            answer = get(server.url, "/", f"{name}.test")
            if answer != (200, body):
                raise server.fail(f"site `{name}` answered {answer[0]} {answer[1][:100]!r}")
        touched = settle_memory(server.proc.pid)
        server.stop()
        result["sites"][n] = {"app_sites": apps, "static_sites": n - apps, "after_start": idle,
                              "after_one_request_per_site": touched}
        log(f"memory: {n} sites ({apps} app, {n - apps} static): after start {idle}, "
            f"after one request to each {touched}")
        peer = round(apps * gunicorn_site["pss_mib"], 1)
        ctx.report.add(
            "memory-sites", f"{n} configured sites ({apps} app, {n - apps} static): "
            f"wsgi-wasm vs gunicorn per app site", idle["pss_mib"], "MiB PSS", "gunicorn",
            peer, "lower", 1, server="wsgi-wasm", sites=n, app_sites=apps,
            rss_mib=idle["rss_mib"], after_one_request_per_site=touched,
            note=f"gunicorn: {apps} x one master + one gthread worker (measured once: "
                 f"{gunicorn_site['pss_mib']} MiB PSS); static sites cost it nothing (nginx)")

    # Live instances: N requests in flight on a site allowed N instances, counted by the
    # server's own gauge (admin listener on a free loopback port); gunicorn: N sync workers,
    # each holding one of N requests in flight.
    most = max(args.instances)
    for n in args.instances:
        sites = work / f"instances-{n}"
        app_site(sites, "hello", {"instances": most, "queue": most, "memory": "64MiB"})
        server = wasm_server(args, sites, logs, f"instances-{n}", admin=True)
        server.start(args.server_cpu)
        server.wait_ready(args.start_timeout, (200, hello_body))
        admin = admin_url(server)
        base = settle_memory(server.proc.pid, 0.5)
        threads, answers = in_flight(server.url, n, args.sleep)
        # The instances stay live after their requests (until idle_timeout, 60 s), so a slow
        # machine may take longer than the sleep to count them all.
        deadline = time.monotonic() + args.sleep + 10
        live = 0
        while time.monotonic() < deadline:
            live = live_instances(server, admin)
            if live >= n:
                break
            time.sleep(0.05)
        if live < n:
            raise server.fail(f"{n} requests in flight but only {live} live instances")
        memory = tree_memory(server.proc.pid)
        check_answers(server, threads, answers, slept, f"{n} requests in flight")
        server.stop()

        gunicorn = gunicorn_workers(args, logs, native, n, f"workers-{n}")
        gunicorn.start(args.server_cpu)
        gunicorn.wait_ready(120, (200, hello_body))
        wait_processes(gunicorn, n + 1)
        g_threads, g_answers = in_flight(gunicorn.url, n, args.sleep)
        time.sleep(args.sleep * 0.6)
        g_memory = tree_memory(gunicorn.proc.pid)
        check_answers(gunicorn, g_threads, g_answers, slept, f"{n} requests in flight")
        gunicorn.stop()
        result["instances"][n] = {"wsgi_wasm": {"before": base, "in_flight": memory,
                                                "live_instances": live},
                                  "gunicorn_sync_workers": g_memory}
        log(f"memory: {n} live instances: wsgi-wasm {memory}; gunicorn with {n} workers {g_memory}")
        ctx.report.add(
            "memory-instances", f"{n} requests in flight: wsgi-wasm ({n} live instances) vs "
            f"gunicorn ({n} sync workers)", memory["pss_mib"], "MiB PSS", "gunicorn",
            g_memory["pss_mib"], "lower", 1, server="wsgi-wasm", instances=n,
            rss_mib=memory["rss_mib"], peer_rss_mib=g_memory["rss_mib"],
            note="PSS summed over the process tree (gunicorn's workers share pages with the "
                 "master); wsgi-wasm's live instances read from its wsgi_wasm_instances gauge")
    return result


# --------------------------------------------------------------------------
# Scenario: startup
# --------------------------------------------------------------------------


def scenario_startup(ctx) -> dict:
    args, logs = ctx.args, ctx.logs
    work = ctx.work / "startup"
    sites = work / "sites"
    app_site(sites, "hello")
    native = native_app(work)
    expect = (200, ctx.bodies["hello"])
    result = {"serve_to_first_response_s": {}, "idle_site": {}}

    def make(name, tag):
        if name == "wsgi-wasm":
            return wasm_server(args, sites, logs, f"start-{tag}")
        return peer_server(args, name, logs, native, f"start-{tag}")

    starts = {}
    for name in ("wsgi-wasm", *PEERS):
        if name in ctx.unavailable:
            continue
        # One untimed start first: wsgi-wasm's build cache, the peers' bytecode.
        timed_start(make(name, "first"), args.server_cpu, args.start_timeout, expect)
        times = []
        for i in range(args.warm_starts):
            times.append(timed_start(make(name, f"{i + 1}"), args.server_cpu, 120, expect))
        starts[name] = times
        log(f"startup: {name} start to first response "
            + ", ".join(f"{t * 1000:.0f} ms" for t in times))
    result["serve_to_first_response_s"] = {n: [round(t, 4) for t in ts] for n, ts in starts.items()}
    for peer in PEERS:
        if peer in starts and "wsgi-wasm" in starts:
            ctx.report.add(
                "startup", f"serve to first hello world: wsgi-wasm vs {LABELS[peer]}",
                round(median(starts["wsgi-wasm"]) * 1000, 1), "ms", peer,
                round(median(starts[peer]) * 1000, 1), "lower", args.warm_starts,
                [ratio_of(a, b) for a, b in zip(starts["wsgi-wasm"], starts[peer])],
                server="wsgi-wasm", note="warm build cache; median of fresh starts")

    # The first request to an idle site (no instance left) against warm requests.
    idle_sites = work / "idle"
    app_site(idle_sites, "hello", {"idle_timeout": args.idle_timeout})
    server = wasm_server(args, idle_sites, logs, "idle", admin=True)
    server.start(args.server_cpu)
    server.wait_ready(args.start_timeout, expect)
    admin = admin_url(server)

    def timed_get() -> float:
        started = time.perf_counter()
        answer = get(server.url, "/")
        seconds = time.perf_counter() - started
        if answer != expect:
            raise server.fail(f"GET / answered {answer[0]} {answer[1][:100]!r}")
        return seconds

    def wait_idle() -> float:
        started = time.monotonic()
        while live_instances(server, admin) > 0:
            if time.monotonic() - started > 120:
                raise server.fail("its instances were not dropped within 120 s of idling")
            time.sleep(0.1)
        return time.monotonic() - started

    warm, cold = [], []
    for r in range(args.idle_rounds):
        waited = wait_idle()
        cold.append(timed_get())
        for _ in range(args.warm_requests):
            warm.append(timed_get())
        log(f"startup: idle site round {r + 1}: first request {cold[-1] * 1000:.2f} ms "
            f"(after {waited:.1f} s idle), warm median {median(warm) * 1000:.2f} ms")
    server.stop()
    result["idle_site"] = {"idle_timeout": args.idle_timeout,
                           "first_request_ms": [round(t * 1000, 3) for t in cold],
                           "warm_request_ms": [round(t * 1000, 3) for t in warm]}
    ctx.report.add(
        "startup", "first request to an idle site vs a warm request (wsgi-wasm)",
        round(median(cold) * 1000, 3), "ms", "wsgi-wasm, same site warm",
        round(median(warm) * 1000, 3), "lower", args.idle_rounds, server="wsgi-wasm",
        note=f"idle_timeout {args.idle_timeout}; instances gone per wsgi_wasm_instances; "
             "each request on a new connection")
    return result


# --------------------------------------------------------------------------
# The machine, the run
# --------------------------------------------------------------------------


def scenario_rebuilds(ctx) -> dict:
    """The server's memory across rebuilds. Builds, and the compiler, run in child processes
    (`wsgi-wasm build-site`), so after N code changes the server is where a warm start is,
    plus its live instances: the figure is the PSS after N rebuilds over the PSS after a
    warm start, both after one request."""
    args, logs = ctx.args, ctx.logs
    sites = ctx.work / "rebuilds" / "sites"
    site = app_site(sites, "rebuilt")
    body = ctx.bodies["hello"]
    source = site / "src" / "app.py"
    original = source.read_text()
    # A first start builds what the cache lacks; the figures come from a warm start.
    timed_start(wasm_server(args, sites, logs, "rebuilds-first"), args.server_cpu,
                args.start_timeout, (200, body))
    server = wasm_server(args, sites, logs, "rebuilds")
    server.start(args.server_cpu)
    try:
        server.wait_ready(args.start_timeout, (200, body))
        warm = settle_memory(server.proc.pid)
        after = []
        for i in range(1, args.rebuilds + 1):
            # A change the cache has never seen: a real build and compilation each time.
            source.write_text(original + f"\n# rebuild {i} at {time.time_ns()}\n")
            deadline = time.monotonic() + args.start_timeout
            while server.log_path.read_text().count("swapped in the new version") < i:
                if time.monotonic() > deadline:
                    raise server.fail(f"rebuild {i} was not swapped in")
                time.sleep(0.1)
            if get(server.url, "/") != (200, body):
                raise server.fail(f"after rebuild {i}, / answered something else")
            after.append(settle_memory(server.proc.pid))
            log(f"rebuilds: after {i}: {after[-1]} (warm start {warm})")
    finally:
        server.stop()
        source.write_text(original)
    last = after[-1]
    ctx.report.add("memory-rebuilds", f"server PSS after {args.rebuilds} rebuild(s)",
                   last["pss_mib"], "MiB", "a warm start", warm["pss_mib"], "lower", 1)
    return {"warm_start": warm, "after_rebuilds": after}


def loadavg() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(int(mem.group(1)) / 2**20, 1),
            "kernel": platform.release()}


def git(*argv) -> str:
    return subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True).stdout.strip()


def tool_versions(ctx) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"wsgi_wasm": hello.first_line([ctx.args.wsgi_wasm_bin, "--version"]),
             "wsgi_wasm_bin": ctx.args.wsgi_wasm_bin,
             "wsgi_wasm_profile": ctx.args.binary_profile,
             # The binary's source is `git_commit` only if it was built from that commit.
             "wsgi_wasm_bin_modified": dt.datetime.fromtimestamp(
                 os.path.getmtime(ctx.args.wsgi_wasm_bin), dt.timezone.utc).isoformat(timespec="seconds"),
             "wrk": hello.first_line(["wrk", "-v"]), "oha": ctx.oha_version,
             "nginx": hello.first_line([ctx.args.nginx, "-v"]) if "nginx" not in ctx.unavailable else None,
             "peer_python": platform.python_version()}
    for package in ("granian", "gunicorn", "uwsgi", "waitress", "matplotlib"):
        try:
            found[package] = version(package if package != "uwsgi" else "uWSGI")
        except PackageNotFoundError:
            found[package] = None
    return found


class Context:
    def __init__(self, args):
        self.args = args
        self.report = Report()
        self.results: dict = {}
        self.commands: dict = {}
        self.unavailable: dict[str, str] = {}
        self.dynamic_servers = None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hello.add_run_args(p, "measured rounds per scenario, the server order rotating")
    hello.add_peer_args(p)
    p.add_argument("--smoke", action="store_true",
                   help="every scenario once, tiny durations, outputs in a temporary folder "
                        "(unless --out): checks that the suite works, measures nothing")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of {list(SCENARIOS)}")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for suite.json and suite.png (default bench/results; "
                        "--smoke: a temporary folder)")
    p.add_argument("--latency-duration", default="20s", help="oha -z of every fixed-rate run")
    p.add_argument("--latency-connections", type=int, default=32, help="oha -c")
    p.add_argument("--rate", type=int, default=0,
                   help="the fixed rate in req/s (0: --rate-share of the slowest server's "
                        "closed-loop throughput in the dynamic scenario)")
    p.add_argument("--rate-share", type=float, default=0.5, help="see --rate")
    p.add_argument("--oha", default=os.environ.get("OHA_BIN", shutil.which("oha") or "oha"),
                   help="the oha binary [OHA_BIN]")
    p.add_argument("--nginx", default=os.environ.get("NGINX_BIN", shutil.which("nginx") or "/usr/sbin/nginx"),
                   help="the nginx binary [NGINX_BIN]")
    p.add_argument("--pages", default="flask,django,django-db", help="frameworks.py --pages")
    p.add_argument("--memory-sites", default="1,50,500", help="configured sites to measure")
    p.add_argument("--memory-app-sites", type=int, default=10,
                   help="at most this many of the configured sites are app sites (each needs "
                        "its own build: builds are cached per site name), the rest static")
    p.add_argument("--instances", default="1,50,200", help="live instances to measure")
    p.add_argument("--sleep", type=float, default=4.0,
                   help="seconds each request in flight holds its instance (memory scenario)")
    p.add_argument("--idle-timeout", default="1s", help="idle_timeout of the idle-site case")
    p.add_argument("--idle-rounds", type=int, default=5, help="first requests to the idle site")
    p.add_argument("--warm-requests", type=int, default=20,
                   help="warm requests timed after each idle round")
    p.add_argument("--rebuilds", type=int, default=3,
                   help="code changes the rebuilds scenario makes to one site")
    p.add_argument("--binary-profile", choices=("release", "debug", "unknown"), default=None,
                   help="the cargo profile the binary was built with (default: from its path, "
                        "target/release or target/debug)")
    p.add_argument("--unavailable", action="append", default=[],
                   help="PEER=REASON: a peer that could not be installed (bench/suite.sh)")
    args = p.parse_args(argv)
    if args.smoke:
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in (argv or sys.argv[1:])
                 if a.startswith("--")}
        for key, value in SMOKE.items():
            if key not in given:
                setattr(args, key, value)
    if args.binary_profile is None:
        args.binary_profile = ("release" if "/release/" in args.wsgi_wasm_bin else
                               "debug" if "/debug/" in args.wsgi_wasm_bin else "unknown")
    args.scenarios = hello.subset(p, "--scenarios", args.scenarios, SCENARIOS)
    try:
        args.memory_sites = sorted({int(v) for v in args.memory_sites.split(",")})
        args.instances = sorted({int(v) for v in args.instances.split(",")})
    except ValueError:
        p.error("--memory-sites and --instances take comma-separated numbers")
    if min(args.memory_sites) < 1 or min(args.instances) < 1 or args.memory_app_sites < 1:
        p.error("site and instance counts must be at least 1")
    if args.warm_starts < 1 or args.idle_rounds < 1 or args.warm_requests < 1:
        p.error("--warm-starts, --idle-rounds and --warm-requests must be at least 1")
    hello.check_run_args(p, args, args.warmup, args.latency_duration)
    return args


def main() -> int:
    args = parse_args()
    hello.check_tools(args, "suite.sh")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="wsgi-wasm-suite-")) if args.smoke else args.results
    args.out.mkdir(parents=True, exist_ok=True)
    args.parts = (args.out / f"suite-{stamp}").resolve()  # the sub-benchmarks' own JSON
    args.parts.mkdir(parents=True, exist_ok=True)
    args.state = args.state.resolve()
    ctx = Context(args)
    ctx.work = Path(tempfile.mkdtemp(prefix="suite-", dir=args.state)) if args.state.is_dir() \
        else Path(tempfile.mkdtemp(prefix="wsgi-wasm-suite-work-"))
    ctx.logs = args.state / "logs" / f"suite-{stamp}"
    ctx.logs.mkdir(parents=True, exist_ok=True)
    ctx.check_for = args.warmup if args.warmup not in ("0", "0s") else "1s"
    for entry in args.unavailable:
        name, _, reason = entry.partition("=")
        ctx.unavailable[name] = reason or "not installed"
    for peer in ("uwsgi", "waitress"):
        if peer not in ctx.unavailable and not Path(venv_bin("uwsgi" if peer == "uwsgi" else "waitress-serve")).exists():
            ctx.unavailable[peer] = f"not installed in {Path(sys.executable).parent}"
    if not os.access(args.nginx, os.X_OK):
        ctx.unavailable.setdefault("nginx", f"no nginx at {args.nginx}")
    ctx.oha = shutil.which(args.oha)
    if ctx.oha:
        ctx.oha_version = hello.first_line([ctx.oha, "--version"])
    else:
        # The CI smoke does not compile oha (6-10 minutes): bench/openloop.py measures.
        ctx.oha_version = "openloop.py (oha not installed)"
        log("latency: oha is not installed; bench/openloop.py measures the fixed-rate runs")
    ctx.bodies = {key: expected(path) for key, (path, _) in PATHS.items()}
    ctx.bodies["sleep"] = expected("/sleep", "s=0")
    log(f"scenarios {', '.join(args.scenarios)}; logs in {ctx.logs}; work in {ctx.work}")

    started = dt.datetime.now(dt.timezone.utc)
    loads = [loadavg()]
    failures = {}
    runners = {"dynamic": scenario_dynamic, "latency": scenario_latency, "static": scenario_static,
               "frameworks": scenario_frameworks, "memory": scenario_memory,
               "startup": scenario_startup, "rebuilds": scenario_rebuilds}
    timings = {}
    for name in args.scenarios:
        log(f"=== scenario {name} ===")
        began = time.monotonic()
        try:
            ctx.results[name] = runners[name](ctx)
        except BenchError as error:
            failures[name] = str(error)
            log(f"scenario {name} FAILED: {error}")
        except Exception:  # a bug in a driver: record it, go on with the others
            failures[name] = traceback.format_exc()
            log(f"scenario {name} FAILED:\n{failures[name]}")
        finally:
            # The dynamic scenario's servers stay up for the latency scenario, if it runs next.
            if not (name == "dynamic" and name not in failures and "latency" in args.scenarios):
                stop_dynamic(ctx)
                hello._kill_all()
        timings[name] = round(time.monotonic() - began, 1)
        loads.append(loadavg())
    finished = dt.datetime.now(dt.timezone.utc)

    suite = {
        "benchmark": "suite",
        "smoke": args.smoke,
        "date": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": git("status", "--short", "--untracked-files=no").splitlines(),
        "machine": {**machine(), "loadavg_1_5_15_per_scenario": loads,
                    "loadavg_1m_min_max": [min(l[0] for l in loads), max(l[0] for l in loads)]},
        "config": {
            "scenarios": args.scenarios, "rounds": args.rounds, "duration": args.duration,
            "warmup_and_check": ctx.check_for, "connections": args.connections,
            "wrk_threads": args.wrk_threads, "server_cpu": args.server_cpu,
            "client_cpu": args.client_cpu, "latency_duration": args.latency_duration,
            "latency_connections": args.latency_connections, "memory_sites": args.memory_sites,
            "memory_app_sites": args.memory_app_sites, "instances": args.instances,
            "warm_starts": args.warm_starts, "idle_timeout": args.idle_timeout,
            "app": str(APP_SOURCE.relative_to(REPO)), "commands": ctx.commands,
            "gunicorn": f"gthread, 1 worker, {args.gunicorn_threads} threads, {args.gunicorn_opts}",
            "granian": args.granian_opts,
            "uwsgi": f"HTTP router (--http, --http-keepalive, --http-buffer-size 65536) + 1 "
                     f"worker process with "
                     f"{args.gunicorn_threads} threads",
            "waitress": f"{args.gunicorn_threads} threads",
        },
        "versions": tool_versions(ctx),
        "unavailable": ctx.unavailable,
        "scenario_seconds": timings,
        "failures": failures,
        "figures": ctx.report.figures,
        "scenarios": ctx.results,
        "notes": notes(ctx),
    }
    out = args.out / "suite.json"
    out.write_text(json.dumps(suite, indent=2, default=str) + "\n")
    shutil.rmtree(ctx.work, ignore_errors=True)  # the generated sites and app copies
    import suite_chart

    chart = suite_chart.draw(suite, args.out / "suite.png")
    print_summary(suite)
    print(f"\nresults: {out}\nchart:   {chart}")
    if failures:
        print(f"\nbench/suite: FAILED scenarios: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def notes(ctx) -> list[str]:
    args = ctx.args
    found = [
        "Ratios are wsgi-wasm's figure over the peer's, both measured in this run; `better` "
        "says which way is good (requests per CPU-second: higher; ms and MiB: lower).",
        f"Memory, configured sites: at most {args.memory_app_sites} of them are app sites and "
        "the rest static sites, because builds are cached per site name (the name is part of "
        "the build's key), so every app site costs a full build (about 12 s) the first time.",
        "Memory, live instances: wsgi-wasm's site allows as many instances as the largest "
        "count; N requests to /sleep are held in flight and the gauge wsgi_wasm_instances "
        "(admin listener on a free loopback port) must read N before memory is read. "
        "gunicorn runs N sync workers for the same N requests.",
    ]
    if args.binary_profile != "release":
        found.append(f"The wsgi-wasm binary {args.wsgi_wasm_bin} is not a release build "
                     f"({args.binary_profile}): its figures are not comparable to release figures.")
    if args.smoke:
        found.append("Smoke run: one round of tiny durations; a check that every scenario "
                     "works, not a measurement.")
    for name, reason in ctx.unavailable.items():
        found.append(f"{name}: not available ({reason})")
    return found


def print_summary(suite: dict) -> None:
    print(f"\nsuite {'(smoke) ' if suite['smoke'] else ''}{suite['date']}, commit "
          f"{suite['git_commit'][:10]}, load avg {suite['machine']['loadavg_1m_min_max']}")
    group = None
    for f in suite["figures"]:
        if f["group"] != group:
            group = f["group"]
            print(f"\n{group}:")
        target = ""
        if "target_ratio" in f:
            target = f"  (target {'>=' if f['better'] == 'higher' else '<='} {f['target_ratio']}x: " \
                     f"{'met' if f['target_met'] else 'NOT met'})"
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.2f}x"
        print(f"  {f['name']:78} {ratio:>8}  ({f['value']} vs {f['peer_value']} {f['unit']}, "
              f"{f['better']} is better){target}")
    for name, error in suite["failures"].items():
        print(f"\nFAILED {name}: {error.splitlines()[0] if error else ''}")


if __name__ == "__main__":
    hello.run(main, "suite")
