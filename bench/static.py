#!/usr/bin/env python3
"""Static-file benchmark: wsgi-wasm vs nginx, in requests per server CPU-second.

Both servers serve the very same files (a 1 KiB and a 1 MiB file) from one
folder: wsgi-wasm as a static-only site (no Python involved), nginx
(`nginx-light`) with one worker, `sendfile off`, no access log. As in
hello.py, each server is pinned to one CPU and wrk to another, and the
headline figure is requests per server CPU-second (the server process and all
its descendants, from /proc).

Run it through `bench/static.sh`, which installs wrk and nginx-light and
builds the release binary. The process handling, CPU accounting and wrk
driver are hello.py's, imported from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import hello
from hello import (
    BENCH_DIR,
    WRK_LUA,
    BenchError,
    Server,
    curl_check,
    env_default,
    free_port,
    log,
    measure,
    median,
)

INDEX = b"wsgi-wasm static benchmark\n"
FILES = {"1k": 1024, "1m": 1024 * 1024}

NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile off;
    tcp_nopush off;
    keepalive_requests 1000000;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} default_server;
        root {public};
        index index.html;
    }}
}}
"""


def file_bytes(size: int) -> bytes:
    """Deterministic, incompressible-looking content."""
    return bytes((i * 2654435761 >> 13) & 0xFF for i in range(size))


def prepare(work: Path) -> Path:
    """The sites folder: one static-only default site whose root holds the files."""
    site = work / "sites" / "static"
    public = site / "public"
    public.mkdir(parents=True, exist_ok=True)
    (site / "site.toml").write_text(
        'server_names = ["static.test"]\ndefault = true\n\n[static]\nroot = "public"\n'
    )
    (public / "index.html").write_bytes(INDEX)
    for name, size in FILES.items():
        (public / f"{name}.bin").write_bytes(file_bytes(size))
    return public


def wsgi_wasm_server(args, work: Path, log_dir: Path) -> Server:
    return Server(
        name="wsgi-wasm",
        argv=[
            args.wsgi_wasm_bin, "serve", "--admin", "off",
            "--listen", "127.0.0.1:0",
            "--sites", str(work / "sites"),
            "--state", str(args.state),
        ],
        log_path=log_dir / "wsgi-wasm-static.log",
        stdout_path=log_dir / "wsgi-wasm-static.stdout",
    )


def nginx_server(args, work: Path, public: Path, log_dir: Path) -> Server:
    port = free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(
        # As root, nginx would switch its worker to `nobody`, who may not read the files.
        user="user root;\n" if os.geteuid() == 0 else "",
        work=work, port=port, public=public,
    ))
    return Server(
        name="nginx",
        argv=[args.nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "nginx-error.log")],
        port=port,
        log_path=log_dir / "nginx.log",
    )


def at(server: Server, path: str) -> Server:
    """The same server, aimed at `path` (hello's helpers use `server.url`)."""
    base = server.url.split("/", 3)
    server.url = "/".join(base[:3]) + "/" + path
    return server


def versions(args) -> dict:
    return {**hello.base_versions(args), "nginx": hello.first_line([args.nginx, "-v"])}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options (from `argv`, else the command line); bench/suite.py passes its own."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hello.add_run_args(p, "measured rounds per server and file")
    p.add_argument("--warmup", default=env_default("BENCH_WARMUP", "2s"),
                   help="unmeasured wrk run per server and file that checks every response "
                        "(0 = a 1 s check only) [BENCH_WARMUP]")
    p.add_argument("--files", default=env_default("BENCH_FILES", ",".join(FILES)),
                   help=f"comma-separated subset of {sorted(FILES)} [BENCH_FILES]")
    p.add_argument("--server-cpu", default=env_default("BENCH_SERVER_CPU", "0"),
                   help="taskset -c for the servers [BENCH_SERVER_CPU]")
    p.add_argument("--client-cpu", default=env_default("BENCH_CLIENT_CPU", "1"),
                   help="taskset -c for wrk [BENCH_CLIENT_CPU]")
    p.add_argument("--nginx", default=env_default("NGINX_BIN", shutil.which("nginx") or "/usr/sbin/nginx"),
                   help="the nginx binary [NGINX_BIN]")
    p.add_argument("--state", type=Path, default=BENCH_DIR / ".state",
                   help="wsgi-wasm state folder; the files and logs go below it too")
    args = p.parse_args(argv)
    args.files = [f.strip() for f in args.files.split(",") if f.strip()]
    if not args.files or set(args.files) - set(FILES):
        p.error(f"--files must be a subset of {sorted(FILES)}")
    hello.check_run_args(p, args, args.warmup)
    return args


def main() -> int:
    bench(parse_args())
    return 0


def bench(args) -> dict:
    """The whole benchmark: checks, runs, writes the JSON, prints the table; returns the
    report (its path under "results_file")."""
    for tool in ("taskset", "wrk", "curl"):
        if not shutil.which(tool):
            raise BenchError(f"`{tool}` is not installed (bench/static.sh installs wrk)")
    if not os.access(args.wsgi_wasm_bin, os.X_OK):
        raise BenchError(f"no wsgi-wasm binary at {args.wsgi_wasm_bin} "
                         "(cargo build --release -p wsgi-wasm, or set WSGI_WASM_BIN)")
    if not os.access(args.nginx, os.X_OK):
        raise BenchError(f"no nginx at {args.nginx} (bench/static.sh installs nginx-light)")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = (args.state / "static" / stamp).resolve()
    log_dir = args.state / "logs" / f"static-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    lua = log_dir / "summary.lua"
    lua.write_text(WRK_LUA)
    public = prepare(work)
    log(f"files in {public}; logs in {log_dir}")

    servers = {
        "wsgi-wasm": wsgi_wasm_server(args, work, log_dir),
        "nginx": nginx_server(args, work, public, log_dir),
    }
    for name, server in servers.items():
        log(f"{name}: starting ({' '.join(server.argv)})")
        server.start(args.server_cpu)
        server.wait_ready(120, (200, INDEX))
        for file in args.files:
            curl_check(at(server, f"{file}.bin"), (200, file_bytes(FILES[file])))
        log(f"{name}: serves the index and the files at {at(server, '').url}")

    # The warm-up runs check every response (a 200 with exactly the file) before timing.
    check_for = args.warmup if args.warmup not in ("0", "0s") else "1s"
    for file in args.files:
        (log_dir / f"verify-{file}.lua").write_text(hello.verify_lua(file_bytes(FILES[file])))
    for name, server in servers.items():
        for file in args.files:
            log(f"{name}: warm-up and check wrk run on {file}.bin ({check_for})")
            hello.verify_responses(args, at(server, f"{file}.bin"), log_dir / f"verify-{file}.lua",
                                   args.client_cpu, check_for, f"{file}.bin")

    names = list(servers)
    rounds: dict[str, dict[str, list[dict]]] = {f: {n: [] for n in names} for f in args.files}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for file in args.files:
            for name in order:
                result = measure(args, at(servers[name], f"{file}.bin"), lua)
                result["round"] = r + 1
                rounds[file][name].append(result)
                log(f"round {r + 1}/{args.rounds} {file:2} {name:9}: {result['requests']} req, "
                    f"{result['rps']:.0f} req/s, {result['cpu_seconds']:.2f} cpu-s "
                    f"({result['cpu_utilisation'] * 100:.0f}% of a core), "
                    f"{result['rps_per_cpu_s']:.0f} req/cpu-s (load {result['loadavg_1m']:.1f})")
                time.sleep(0.5)
    for name, server in servers.items():
        for file in args.files:
            curl_check(at(server, f"{file}.bin"), (200, file_bytes(FILES[file])))
        server.stop()

    keys = ("rps", "rps_per_cpu_s", "cpu_seconds", "cpu_utilisation",
            "latency_p50_ms", "latency_p99_ms", "loadavg_1m", "cpu_pressure_some")
    summary = {
        file: {name: {k: median([run[k] for run in runs if run[k] is not None]) for k in keys}
               for name, runs in by_server.items()}
        for file, by_server in rounds.items()
    }
    ratios = {
        file: round(s["wsgi-wasm"]["rps_per_cpu_s"] / s["nginx"]["rps_per_cpu_s"], 3)
        for file, s in summary.items()
    }
    per_round = {
        file: [round(a["rps_per_cpu_s"] / b["rps_per_cpu_s"], 3)
               for a, b in zip(rounds[file]["wsgi-wasm"], rounds[file]["nginx"])]
        for file in rounds
    }
    report = {
        "benchmark": "static",
        "timestamp": stamp,
        "config": {
            "rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
            "connections": args.connections, "wrk_threads": args.wrk_threads,
            "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
            "files": {f: FILES[f] for f in args.files},
            "commands": {name: ["taskset", "-c", args.server_cpu, *s.argv]
                         for name, s in servers.items()},
            "nginx_conf": (work / "nginx.conf").read_text(),
        },
        "versions": versions(args),
        "rounds": rounds,
        "medians": summary,
        "ratios_wsgi_wasm_over_nginx_rps_per_cpu_s": ratios,
        "per_round_ratios": per_round,
    }
    out = args.results / f"static-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)

    print(f"\nstatic files, {args.rounds} round(s) x {args.duration}, wrk -t{args.wrk_threads} "
          f"-c{args.connections} on CPU {args.client_cpu}, servers on CPU {args.server_cpu}")
    head = (f"{'file':5} {'server':10} {'req/s':>9} {'cpu-s':>7} {'core %':>7} "
            f"{'req/cpu-s':>10} {'p50 ms':>7} {'p99 ms':>7}")
    print(head)
    print("-" * len(head))
    for file, by_server in summary.items():
        for name, s in by_server.items():
            print(f"{file:5} {name:10} {s['rps']:9.0f} {s['cpu_seconds']:7.2f} "
                  f"{s['cpu_utilisation'] * 100:6.0f}% {s['rps_per_cpu_s']:10.0f} "
                  f"{s['latency_p50_ms']:7.2f} {s['latency_p99_ms']:7.2f}")
    for file, ratio in ratios.items():
        target = " (target >= 0.8x)" if file == "1k" else ""
        spread = ", ".join(f"{r:.2f}" for r in per_round[file])
        print(f"wsgi-wasm/nginx {file} (req per server cpu-s) {ratio:6.2f}x{target}  rounds: {spread}")
    print(f"\nraw numbers: {out}")
    report["results_file"] = str(out)
    return report


if __name__ == "__main__":
    hello.run(main, "static")
