#!/usr/bin/env python3
"""Noisy-neighbour benchmark: site B's latency and throughput, alone and beside a site A
that runs memory bombs and CPU loops, both served by the same wsgi-wasm process.

Site B is `sites/hello/app.py` under the name `quiet.test` (the default site, default
limits); site A is `bench/sites/noisy` (`noisy.test`: memory 128MiB, 2 instances,
cpu_time 2s). wrk loads B; `bench/noisy_load.py` keeps a few connections hitting A's
`/bomb` (→ 500) and `/spin` (→ 504). Rounds alternate "alone" and "loaded"; the figures
are B's p99/p50 latency and req/s, and the ratios loaded/alone (target: p99 <= 1.3x).

Two CPU layouts, each with its own server start:
  pinned  the server on CPU 0; wrk and A's load generator on CPU 1
  shared  the server, wrk and A's load generator all on CPUs 0,1

Run it through `bench/noisy.sh`, which installs wrk and builds the release binary. The
process handling, CPU accounting and wrk driver are hello.py's, imported from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import hello
from hello import (
    BENCH_DIR,
    REPO,
    WRK_LUA,
    BenchError,
    Server,
    curl_check,
    env_default,
    expected_response,
    log,
    measure,
    median,
)

HOST_A = "noisy.test"
HOST_B = "quiet.test"
BODY_A = b"noisy\n"
LAYOUTS = {
    # name: (server CPUs, CPUs of wrk and of A's load generator)
    "pinned": ("0", "1"),
    "shared": ("0,1", "0,1"),
}
SITE_B_TOML = f"""\
# Site B of bench/noisy.py: sites/hello/app.py (copied here) under its own name, with the
# default limits. It is the default site so that hello.py's readiness check finds it;
# wrk still sends `Host: {HOST_B}`.
server_names = ["{HOST_B}"]
default = true

[app]
module = "app"
callable = "application"
"""

# The measured runs: hello.py's summary hook (any socket error or 4xx/5xx fails the run),
# with B's Host header.
MEASURE_LUA = f'wrk.headers["Host"] = "{HOST_B}"\n' + WRK_LUA


# --------------------------------------------------------------------------
# Site A's load generator (bench/noisy_load.py in a process of its own)
# --------------------------------------------------------------------------


class Noise:
    """A running noisy_load.py; registered with hello.py so it is stopped on any exit."""

    def __init__(self, args, url: str, cpu: str, log_path: Path):
        self.args, self.url, self.cpu, self.log_path = args, url, cpu, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = ["taskset", "-c", self.cpu, sys.executable, str(BENCH_DIR / "noisy_load.py"),
                self.url, "--host", HOST_A, "--bomb", str(self.args.bomb_conns),
                "--spin", str(self.args.spin_conns), "--drain", str(self.args.drain)]
        self.err = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, start_new_session=True)
        hello._running.append(self)
        line = self.proc.stdout.readline()
        if b"NOISE_STARTED" not in line:
            self.stop()
            raise BenchError(f"noisy_load.py did not start; see {self.log_path}")

    def stop(self) -> dict | None:
        """SIGTERM, then the counts it prints once its requests in flight are done."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if self in hello._running:
            hello._running.remove(self)
        report = None
        try:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=self.args.drain + 15)
            match = re.search(rb"^NOISE_JSON (\{.*\})$", out, re.M)
            report = json.loads(match.group(1)) if match else None
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            self.err.close()
        return report


def add_counts(total: dict, report: dict) -> None:
    for key in ("bomb", "spin", "errors"):
        for code, n in report.get(key, {}).items():
            total.setdefault(key, {})
            total[key][code] = total[key].get(code, 0) + n
    total["unfinished"] = total.get("unfinished", 0) + report.get("unfinished", 0)


def noise_happened(report: dict | None) -> bool:
    return bool(report) and (report["bomb"].get("500", 0) > 0 or report["spin"].get("504", 0) > 0)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def check_site_a(server: Server) -> None:
    """A answers its own name (so the noise really goes to A, not to the default B)."""
    netloc = server.url.split("/")[2]
    conn = http.client.HTTPConnection(netloc, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": HOST_A})
        response = conn.getresponse()
        status, body = response.status, response.read()
    except OSError as error:
        raise server.fail(f"site A ({HOST_A}) did not answer: {error}")
    finally:
        conn.close()
    if (status, body) != (200, BODY_A):
        raise server.fail(f"site A ({HOST_A}) answered {status} {body!r}, expected 200 {BODY_A!r}")


def verify_b(args, server: Server, lua: Path, client_cpu: str, what: str) -> dict:
    """An unmeasured wrk run on B that checks every response: 200 and the hello body."""
    return hello.verify_responses(args, server, lua, client_cpu, args.verify, f"site B, {what}")


def quiesce(args, server: Server) -> float:
    """Waits until the server is idle (A's last loops and bombs over); returns the wait."""
    start = time.monotonic()
    while time.monotonic() - start < args.quiesce_timeout:
        before = server.cpu_seconds()
        time.sleep(0.5)
        if server.cpu_seconds() - before < 0.025:  # < 5% of a core
            return time.monotonic() - start
    log(f"warning: the server was still busy {args.quiesce_timeout:.0f} s after the noise stopped")
    return time.monotonic() - start


# --------------------------------------------------------------------------
# One layout
# --------------------------------------------------------------------------


def run_layout(args, layout: str, sites: Path, log_dir: Path, expect, lua_measure: Path,
               lua_verify: Path) -> dict:
    server_cpu, client_cpu = LAYOUTS[layout]
    args.client_cpu = client_cpu  # hello.measure runs wrk on args.client_cpu
    server = Server(
        name=f"wsgi-wasm ({layout})",
        argv=[args.wsgi_wasm_bin, "serve", "--admin", "off", "--listen", "127.0.0.1:0",
              "--sites", str(sites), "--state", str(args.state)],
        log_path=log_dir / f"wsgi-wasm-{layout}.log",
        stdout_path=log_dir / f"wsgi-wasm-{layout}.stdout",
    )
    log(f"{layout}: server on CPU {server_cpu}, wrk and A's load on CPU {client_cpu}; "
        f"starting wsgi-wasm (builds the sites if the cache is cold)")
    server.start(server_cpu)
    server.wait_ready(args.start_timeout, expect)
    curl_check(server, expect)
    check_site_a(server)
    log(f"{layout}: B and A answer at {server.url}")
    noise = Noise(args, server.url, client_cpu, log_dir / f"noisy_load-{layout}.log")

    def loaded(fn):
        noise.start()
        try:
            time.sleep(args.settle)
            value = fn()
        finally:
            report = noise.stop()
        waited = quiesce(args, server)
        if report is None:
            raise BenchError(f"noisy_load.py printed no counts; see {noise.log_path}")
        return value, report, waited

    checks = {"alone": verify_b(args, server, lua_verify, client_cpu, "alone")}
    checks["loaded"], check_noise, _ = loaded(
        lambda: verify_b(args, server, lua_verify, client_cpu, "loaded"))
    if not noise_happened(check_noise):
        raise server.fail(f"site A gave no 500 or 504 during the check run: {check_noise}")
    log(f"{layout}: A during the check: bomb {check_noise['bomb']}, spin {check_noise['spin']}")

    runs = {"alone": [], "loaded": []}
    noise_total: dict = {}
    for r in range(args.rounds):
        for mode in (("alone", "loaded") if r % 2 == 0 else ("loaded", "alone")):
            if mode == "alone":
                result = measure(args, server, lua_measure)
            else:
                result, report, waited = loaded(lambda: measure(args, server, lua_measure))
                result["site_a"] = report
                result["quiesce_s"] = round(waited, 2)
                add_counts(noise_total, report)
            result["round"] = r + 1
            runs[mode].append(result)
            extra = (f"; A: bomb {result['site_a']['bomb']} spin {result['site_a']['spin']}"
                     if mode == "loaded" else "")
            log(f"{layout} round {r + 1}/{args.rounds} {mode:6}: {result['rps']:.0f} req/s, "
                f"p50 {result['latency_p50_ms']:.2f} ms, p99 {result['latency_p99_ms']:.2f} ms, "
                f"server {result['cpu_utilisation'] * 100:.0f}% of a core "
                f"(load {result['loadavg_1m']:.1f}){extra}")
            time.sleep(0.5)
    if not noise_total or not (noise_total.get("bomb", {}).get("500") or
                               noise_total.get("spin", {}).get("504")):
        raise server.fail(f"site A gave no 500 or 504 during the loaded rounds: {noise_total}")
    curl_check(server, expect)  # B still healthy
    check_site_a(server)
    server.stop()

    keys = ("rps", "latency_p50_ms", "latency_p99_ms", "cpu_seconds", "cpu_utilisation",
            "loadavg_1m", "cpu_pressure_some")
    medians = {mode: {k: median([run[k] for run in rs if run[k] is not None]) for k in keys}
               for mode, rs in runs.items()}

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    ratios = {k: ratio(medians["loaded"][k], medians["alone"][k])
              for k in ("latency_p99_ms", "latency_p50_ms", "rps")}
    per_round = {k: [ratio(l[k], a[k]) for a, l in zip(runs["alone"], runs["loaded"])]
                 for k in ("latency_p99_ms", "rps")}
    return {
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "command": ["taskset", "-c", server_cpu, *server.argv],
        "checks_before_timing": checks,
        "site_a_during_checks": check_noise,
        "runs": runs,
        "medians": medians,
        "ratios_loaded_over_alone": ratios,
        "per_round_ratios_loaded_over_alone": per_round,
        "p99_target_met": (ratios["latency_p99_ms"] is not None
                           and ratios["latency_p99_ms"] <= args.target),
        "site_a_during_loaded_rounds": noise_total,
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def prepare_sites(work: Path) -> Path:
    """The sites folder: A from bench/sites/noisy, B = sites/hello/app.py as quiet.test."""
    sites = work / "sites"
    shutil.rmtree(sites, ignore_errors=True)
    shutil.copytree(BENCH_DIR / "sites" / "noisy", sites / "noisy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (sites / "quiet").mkdir(parents=True)
    shutil.copy2(REPO / "sites" / "hello" / "app.py", sites / "quiet" / "app.py")
    (sites / "quiet" / "site.toml").write_text(SITE_B_TOML)
    return sites


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hello.add_run_args(p, "rounds per layout; each has one alone and one loaded run")
    p.add_argument("--verify", default=env_default("BENCH_VERIFY", "2s"),
                   help="wrk -d of the unmeasured check runs on B (alone, loaded) [BENCH_VERIFY]")
    p.add_argument("--settle", type=float, default=env_default("BENCH_SETTLE", 3.0),
                   help="seconds A's load runs before B's loaded run starts [BENCH_SETTLE]")
    p.add_argument("--bomb-conns", type=int, default=env_default("BENCH_BOMB_CONNS", 2),
                   help="connections hitting A's /bomb back to back [BENCH_BOMB_CONNS]")
    p.add_argument("--spin-conns", type=int, default=env_default("BENCH_SPIN_CONNS", 2),
                   help="connections hitting A's /spin back to back [BENCH_SPIN_CONNS]")
    p.add_argument("--drain", type=float, default=30.0,
                   help="seconds A's load generator waits for its requests in flight when stopped")
    p.add_argument("--quiesce-timeout", type=float, default=30.0,
                   help="longest wait for the server to go idle after A's load stops")
    p.add_argument("--layouts", default=env_default("BENCH_LAYOUTS", ",".join(LAYOUTS)),
                   help=f"comma-separated subset of {list(LAYOUTS)} [BENCH_LAYOUTS]")
    p.add_argument("--target", type=float, default=1.3, help="p99 ratio loaded/alone to meet")
    p.add_argument("--state", type=Path, default=BENCH_DIR / ".state",
                   help="wsgi-wasm state folder (build cache); the sites and logs go below it")
    p.add_argument("--start-timeout", type=float, default=env_default("BENCH_START_TIMEOUT", 600.0),
                   help="seconds allowed for a (possibly cold) start [BENCH_START_TIMEOUT]")
    args = p.parse_args()
    args.layouts = [s.strip() for s in args.layouts.split(",") if s.strip()]
    if not args.layouts or set(args.layouts) - set(LAYOUTS):
        p.error(f"--layouts must be a subset of {list(LAYOUTS)}")
    if args.bomb_conns + args.spin_conns < 1:
        p.error("site A needs at least one connection (--bomb-conns, --spin-conns)")
    hello.check_run_args(p, args, args.verify)
    return args


def versions(args) -> dict:
    return {**hello.base_versions(args), "python": sys.version.split()[0]}


def print_table(args, layouts: dict) -> None:
    print(f"\nnoisy neighbour: site B (hello) alone vs beside site A (bomb x{args.bomb_conns}, "
          f"spin x{args.spin_conns}); {args.rounds} round(s) x {args.duration}, "
          f"wrk -t{args.wrk_threads} -c{args.connections}")
    if "target/release" not in args.wsgi_wasm_bin:
        print(f"NOTE: binary {args.wsgi_wasm_bin} (not the release build): dev figures only")
    head = (f"{'layout':7} {'B':7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'srv core%':>9} {'load':>5} {'cpu wait':>8}")
    print(head)
    print("-" * len(head))
    for name, lay in layouts.items():
        for mode, m in lay["medians"].items():
            wait = m["cpu_pressure_some"]
            print(f"{name:7} {mode:7} {m['rps']:8.0f} {m['latency_p50_ms']:8.2f} "
                  f"{m['latency_p99_ms']:8.2f} {m['cpu_utilisation'] * 100:8.0f}% "
                  f"{m['loadavg_1m']:5.1f} {'' if wait is None else f'{wait * 100:.0f}%':>8}")
    for name, lay in layouts.items():
        r, pr = lay["ratios_loaded_over_alone"], lay["per_round_ratios_loaded_over_alone"]
        verdict = "met" if lay["p99_target_met"] else "NOT met"
        print(f"{name} (server CPU {lay['server_cpu']}, wrk + A's load CPU {lay['client_cpu']}): "
              f"loaded/alone p99 {r['latency_p99_ms']:.2f}x (target <= {args.target}x: {verdict}), "
              f"p50 {r['latency_p50_ms']:.2f}x, req/s {r['rps']:.2f}x; per round p99 "
              + ", ".join(f"{v:.2f}" for v in pr["latency_p99_ms"] if v is not None))
        a = lay["site_a_during_loaded_rounds"]
        print(f"  site A during the loaded rounds: /bomb {a.get('bomb', {})}, "
              f"/spin {a.get('spin', {})}, socket errors {a.get('errors', {})}, "
              f"unfinished {a.get('unfinished', 0)}")
    print("(server core% counts site A's CPU too in the loaded rows)")


def main() -> int:
    args = parse_args()
    for tool in ("taskset", "wrk", "curl"):
        if not shutil.which(tool):
            raise BenchError(f"`{tool}` is not installed (bench/noisy.sh installs wrk)")
    if not os.access(args.wsgi_wasm_bin, os.X_OK):
        raise BenchError(f"no wsgi-wasm binary at {args.wsgi_wasm_bin} "
                         "(cargo build --release -p wsgi-wasm, or set WSGI_WASM_BIN)")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = args.state / "logs" / f"noisy-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    # A fixed folder, so the build cache is reused from one run to the next.
    sites = prepare_sites((args.state / "noisy").resolve())
    expect = expected_response(REPO / "sites" / "hello")
    if expect[0] != 200:
        raise BenchError(f"sites/hello/app.py answers {expect[0]}, not 200")
    lua_measure = log_dir / "measure.lua"
    lua_measure.write_text(MEASURE_LUA)
    lua_verify = log_dir / "verify.lua"
    lua_verify.write_text(hello.verify_lua(expect[1], HOST_B))
    log(f"sites in {sites}; logs in {log_dir}")

    layouts = {name: run_layout(args, name, sites, log_dir, expect, lua_measure, lua_verify)
               for name in args.layouts}

    report = {
        "benchmark": "noisy",
        "timestamp": stamp,
        "config": {
            "rounds": args.rounds, "duration": args.duration, "verify": args.verify,
            "settle_s": args.settle, "connections": args.connections,
            "wrk_threads": args.wrk_threads, "bomb_conns": args.bomb_conns,
            "spin_conns": args.spin_conns, "target_p99_ratio": args.target,
            "layouts": {n: {"server_cpu": LAYOUTS[n][0], "client_cpu": LAYOUTS[n][1]}
                        for n in args.layouts},
            "site_a_toml": (sites / "noisy" / "site.toml").read_text(),
            "site_b_toml": SITE_B_TOML,
        },
        "versions": versions(args),
        "layouts": layouts,
    }
    out = args.results / f"noisy-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(args, layouts)
    print(f"\nraw numbers: {out}")
    return 0


if __name__ == "__main__":
    hello.run(main, "noisy")
