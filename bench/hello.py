#!/usr/bin/env python3
"""Hello-world benchmark: wsgi-wasm vs Granian vs gunicorn (gthread).

Every server serves the very same WSGI app, `sites/hello/app.py`. Each server
is pinned to one CPU, wrk to another; the headline figure is requests per
server CPU-second (CPU time of the server process and all its descendants,
read from /proc), not raw requests per second, so the result says how much
work each server spends per request rather than how fast one noisy core was.

Run it through `bench/hello.sh`, which installs the peers and wrk and builds
the release binary; this script expects to run under `bench/.venv/bin/python`.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

# wrk reports its own summary through this script, as one JSON line, so that
# nothing has to be scraped out of its human-readable output.
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"latency_p50_us": %d, "latency_p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# The check runs before timing: wrk's response() hook looks at every response's status and
# body, counted per wrk thread (the hook costs wrk some speed, so the measured runs do
# without it). verify_lua() puts the expected body (and a Host header) in front of it.
VERIFY_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad_status = 0; bad_body = 0; last_bad = 0 end
function response(status, headers, body)
  if status ~= 200 then bad_status = bad_status + 1; last_bad = status
  elseif EXPECTED and body ~= EXPECTED then bad_body = bad_body + 1
  elseif MARKER and not string.find(body, MARKER, 1, true) then bad_body = bad_body + 1
  else ok = ok + 1 end
end
function done(summary, latency, requests)
  local ok_, status_, body_, last_ = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    ok_ = ok_ + t:get("ok"); status_ = status_ + t:get("bad_status")
    body_ = body_ + t:get("bad_body")
    if t:get("last_bad") ~= 0 then last_ = t:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '\nVERIFY_JSON {"requests": %d, "ok": %d, "bad_status": %d, "last_bad_status": %d, ' ..
    '"bad_body": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, ok_, status_, last_, body_, e.connect, e.read, e.write, e.timeout))
end
"""


def lua_bytes(data: bytes) -> str:
    """`data` as a Lua string literal (decimal escapes: any byte, any Lua version)."""
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def host_lua(host: str | None) -> str:
    """The wrk Lua line that sends `Host: host` with every request (nothing for None)."""
    return f"wrk.headers[\"Host\"] = {lua_bytes(host.encode())}\n" if host else ""


def verify_lua(expected: bytes | None, host: str | None = None, marker: bytes | None = None) -> str:
    """A wrk script that checks every response is a 200 whose body is exactly `expected`
    (when given) and holds `marker` (when given)."""
    return (host_lua(host)
            + (f"EXPECTED = {lua_bytes(expected)}\n" if expected is not None else "")
            + (f"MARKER = {lua_bytes(marker)}\n" if marker is not None else "")
            + VERIFY_LUA)


class BenchError(Exception):
    """A failure that ends the run with a clear message (no traceback)."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def env_default(name: str, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return type(default)(value)


# --------------------------------------------------------------------------
# Process bookkeeping: everything we start is killed on exit, whatever happens.
# --------------------------------------------------------------------------

_running: list["Server"] = []


def _kill_all() -> None:
    for server in list(_running):
        server.stop()


def _on_signal(signum, _frame) -> None:
    log(f"got signal {signum}, stopping servers")
    _kill_all()
    sys.exit(128 + signum)


atexit.register(_kill_all)
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:]) or "    (empty log)"


# --------------------------------------------------------------------------
# CPU accounting from /proc
# --------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    rest = raw[raw.rindex(")") + 2 :].split()
    return ["", ""] + rest  # index i is field i+1 of proc(5)


def process_tree(root: int) -> list[int]:
    """The root pid and every live descendant (via the ppid field)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[3]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> tuple[float, int]:
    """utime+stime of every process in the tree (all threads included), plus
    cutime+cstime (children that already exited and were reaped).
    Returns (seconds, number of processes)."""
    ticks, pids = 0, process_tree(root)
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # proc(5): 14 utime, 15 stime, 16 cutime, 17 cstime (1-based)
        ticks += sum(int(fields[i]) for i in (13, 14, 15, 16))
    return ticks / CLK_TCK, len(pids)


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    argv: list[str]
    log_path: Path
    port: int | None = None  # None: the server prints its address (wsgi-wasm)
    stdout_path: Path | None = None
    cwd: Path = REPO
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    url: str = ""
    started_at: float = 0.0

    def start(self, cpu: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stdout = open(self.stdout_path or self.log_path, "wb")
        stderr = open(self.log_path, "ab" if self.stdout_path is None else "wb")
        env = dict(os.environ, **self.env)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpu, *self.argv],
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=env,
            start_new_session=True,  # its own process group, killed as one
        )
        stdout.close()
        stderr.close()
        _running.append(self)
        if self.port is not None:
            self.url = f"http://127.0.0.1:{self.port}/"

    def fail(self, why: str) -> BenchError:
        logs = f"--- {self.log_path} (tail) ---\n{tail(self.log_path)}"
        if self.stdout_path:
            logs += f"\n--- {self.stdout_path} (tail) ---\n{tail(self.stdout_path)}"
        self.stop()
        return BenchError(f"{self.name}: {why}\n{logs}")

    def wait_ready(self, timeout: float, expect, path: str = "",
                   headers: dict | None = None) -> float:
        """Polls GET `path` (with `headers`) until the server answers right; returns the
        time from process start to that first good response. `expect` is the exact
        (status, body), or a function of (status, body) that returns what is wrong, or
        None when the answer is good. Gives up `timeout` seconds after the call."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(rb"Serving HTTP on (http://\S+/)")
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self.fail(f"exited with status {self.proc.returncode} before serving")
            if not self.url:
                match = pattern.search(self.stdout_path.read_bytes())
                if not match:
                    time.sleep(0.002)
                    continue
                self.url = match.group(1).decode()
            try:
                # With a path, from the server's root (`url` may point at a page already).
                url = "/".join(self.url.split("/", 3)[:3]) + "/" + path.lstrip("/") if path else self.url
                request = urllib.request.Request(url, headers=headers or {})
                with urllib.request.urlopen(request, timeout=2) as response:
                    status, body = response.status, response.read()
            except urllib.error.HTTPError as error:  # an answer, just not a 2xx
                status, body = error.code, error.read()
                if status == 503 and error.headers.get("Retry-After"):
                    # wsgi-wasm serves while a site's first build runs: not ready yet.
                    last_error = "503 with Retry-After (the site is still building)"
                    time.sleep(0.05)
                    continue
            except http.client.RemoteDisconnected:  # listening, and will not answer
                raise self.fail(f"GET /{path.lstrip('/')} with {headers or {}}: "
                                "the connection was closed without an answer")
            except OSError as error:  # not listening yet (URLError is an OSError)
                last_error = str(error)
                time.sleep(0.005)
                continue
            if callable(expect):
                wrong = expect(status, body)
            else:
                wrong = None if (status, body) == expect else f"expected {expect[0]} {expect[1]!r}"
            if wrong is None:
                return time.monotonic() - self.started_at
            raise self.fail(f"GET /{path.lstrip('/')} answered {status} {body[:300]!r}: {wrong}")
        raise self.fail(f"not answering after {timeout:.0f} s (last error: {last_error})")

    def cpu_seconds(self) -> float:
        if self.proc.poll() is not None:
            raise self.fail(f"exited with status {self.proc.returncode} during the benchmark")
        return tree_cpu_seconds(self.proc.pid)[0]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        # Leftovers in the group (e.g. a worker that outlived its master).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self in _running:
            _running.remove(self)


def wsgi_wasm_server(args, log_dir: Path, tag: str) -> Server:
    return Server(
        name="wsgi-wasm",
        argv=[
            args.wsgi_wasm_bin, "serve", "--admin", "off",
            "--listen", "127.0.0.1:0",
            "--sites", str(args.sites),
            "--state", str(args.state),
        ],
        log_path=log_dir / f"wsgi-wasm-{tag}.log",
        stdout_path=log_dir / f"wsgi-wasm-{tag}.stdout",
    )


def granian_server(args, log_dir: Path, app_dir: Path | None = None,
                   target: str = "app:application", tag: str = "", env: dict | None = None) -> Server:
    """Granian serving `target` (module:callable) from `app_dir` (default: args.app_dir)."""
    port = free_port()
    return Server(
        name="granian",
        argv=[
            str(Path(sys.executable).parent / "granian"),
            "--interface", "wsgi",
            "--host", "127.0.0.1", "--port", str(port),
            "--working-dir", str(app_dir or args.app_dir),
            *args.granian_opts.split(),
            target,
        ],
        port=port,
        log_path=log_dir / f"granian{tag}.log",
        env=env or {},
    )


def gunicorn_server(args, log_dir: Path, app_dir: Path | None = None,
                    target: str = "app:application", tag: str = "", env: dict | None = None) -> Server:
    """gunicorn gthread serving `target` (module:callable) from `app_dir` (default: args.app_dir)."""
    port = free_port()
    return Server(
        name="gunicorn",
        argv=[
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind", f"127.0.0.1:{port}",
            "--chdir", str(app_dir or args.app_dir),
            "--worker-class", "gthread",
            "--workers", "1",
            "--threads", str(args.gunicorn_threads),
            *args.gunicorn_opts.split(),
            target,
        ],
        port=port,
        log_path=log_dir / f"gunicorn{tag}.log",
        env=env or {},
    )


def timed_start(server: Server, cpu: str, timeout: float, expect, path: str = "",
                headers: dict | None = None) -> float:
    """Starts `server` on `cpu`, times it from spawn to its first good answer
    (see Server.wait_ready), and stops it."""
    server.start(cpu)
    try:
        return server.wait_ready(timeout, expect, path, headers)
    finally:
        server.stop()


# --------------------------------------------------------------------------
# Checks and load
# --------------------------------------------------------------------------


def expected_response(app_dir: Path, path: str = "/", query: str = "") -> tuple[int, bytes]:
    """Runs `app_dir/app.py` once in-process for GET `path`: what every server must answer.
    The file is loaded under a name of its own, so two apps in one process never mix."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"bench_app_{abs(hash(str(app_dir)))}",
                                                  app_dir / "app.py")
    app = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(app_dir))
    try:
        spec.loader.exec_module(app)
    finally:
        sys.path.pop(0)
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = int(status.split()[0])

    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": None, "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    body = b"".join(app.application(environ, start_response))
    return seen["status"], body


def curl_check(server: Server, expect: tuple[int, bytes]) -> None:
    with tempfile.NamedTemporaryFile() as body_file:
        result = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "-o", body_file.name,
             "-w", "%{http_code}", server.url],
            capture_output=True, text=True, timeout=20,
        )
        body = Path(body_file.name).read_bytes()
    if result.returncode != 0 or result.stdout != str(expect[0]) or body != expect[1]:
        raise server.fail(
            f"curl check failed: exit {result.returncode}, status {result.stdout!r}, "
            f"body {body!r} (expected {expect[0]} {expect[1]!r}) {result.stderr.strip()}"
        )


def run_wrk(args, server: Server, duration: str, lua: Path) -> dict:
    argv = [
        "taskset", "-c", args.client_cpu, "wrk",
        f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{duration}",
        "--timeout", "5s", "-s", str(lua), server.url,
    ]
    seconds = parse_seconds(duration)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise server.fail(f"wrk did not finish within {seconds + 60:.0f} s")
    match = re.search(r"^WRK_JSON (\{.*\})$", result.stdout, re.M)
    if result.returncode != 0 or not match:
        raise server.fail(
            f"wrk failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    stats = json.loads(match.group(1))
    errors = {k: stats[k] for k in ("connect", "read", "write", "timeout") if stats[k]}
    if stats["status"]:
        errors["non-2xx/3xx responses"] = stats["status"]
    if errors or stats["requests"] == 0:
        raise server.fail(f"wrk saw errors {errors or 'no requests'}:\n{result.stdout}")
    return stats


def verify_responses(args, server: Server, lua: Path, client_cpu: str, duration: str,
                     what: str) -> dict:
    """An unmeasured wrk run (`args.wrk_threads`, `args.connections`) with a verify_lua()
    script: fails unless every response was a 200 with the expected body and wrk saw no
    socket error. Returns wrk's counts."""
    argv = ["taskset", "-c", client_cpu, "wrk", f"-t{args.wrk_threads}", f"-c{args.connections}",
            f"-d{duration}", "--timeout", "5s", "-s", str(lua), server.url]
    result = subprocess.run(argv, capture_output=True, text=True,
                            timeout=parse_seconds(duration) + 60)
    match = re.search(r"^VERIFY_JSON (\{.*\})$", result.stdout, re.M)
    if result.returncode != 0 or not match:
        raise server.fail(f"wrk check ({what}) failed (exit {result.returncode}):\n"
                          f"{result.stdout}\n{result.stderr}")
    stats = json.loads(match.group(1))
    bad = {k: stats[k] for k in ("bad_status", "bad_body", "connect", "read", "write", "timeout")
           if stats[k]}
    if bad or stats["ok"] == 0 or stats["ok"] != stats["requests"]:
        raise server.fail(f"check ({what}): not every response was a 200 with the "
                          f"expected body: {stats}")
    log(f"{server.name} check ({what}): all {stats['ok']} responses were 200 with the expected body")
    return stats


def parse_seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", duration)
    if not match:
        raise BenchError(f"bad duration {duration!r} (use e.g. 10s, 1m)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def cpu_pressure_us() -> int | None:
    """Total microseconds some task waited for a CPU (PSI), if available."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(first.rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def measure(args, server: Server, lua: Path) -> dict:
    load = float(Path("/proc/loadavg").read_text().split()[0])
    pressure_before = cpu_pressure_us()
    cpu_before = server.cpu_seconds()
    wall_before = time.monotonic()
    stats = run_wrk(args, server, args.duration, lua)
    wall = time.monotonic() - wall_before
    cpu = server.cpu_seconds() - cpu_before
    pressure_after = cpu_pressure_us()
    seconds = stats["duration_us"] / 1e6
    if cpu <= 0:
        raise server.fail("no server CPU time was recorded during the run")
    return {
        "requests": stats["requests"],
        "seconds": round(seconds, 4),
        "cpu_seconds": round(cpu, 3),
        "cpu_utilisation": round(cpu / wall, 3),
        "rps": round(stats["requests"] / seconds, 1),
        "rps_per_cpu_s": round(stats["requests"] / cpu, 1),
        # Response size, headers included: shows that every server sent the same page.
        "bytes_per_request": round(stats["bytes"] / stats["requests"]),
        "latency_p50_ms": stats["latency_p50_us"] / 1000,
        "latency_p99_ms": stats["latency_p99_us"] / 1000,
        # Noise indicators: the machine's 1-minute load average before the
        # run, and the share of the run during which some task was waiting
        # for a CPU (PSI "some"; 0 = nobody ever waited).
        "loadavg_1m": load,
        "cpu_pressure_some": (round((pressure_after - pressure_before) / 1e6 / wall, 3)
                              if pressure_before is not None and pressure_after is not None
                              else None),
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def first_line(argv) -> str:
    """The first line a command prints (a version), or "unknown"."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def base_versions(args) -> dict:
    """What every benchmark records about the build and the machine."""
    return {
        "wsgi_wasm": first_line([args.wsgi_wasm_bin, "--version"]),
        "wsgi_wasm_bin": args.wsgi_wasm_bin,
        "git_commit": first_line(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "wrk": first_line(["wrk", "-v"]),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
    }


def versions(args) -> dict:
    from importlib.metadata import version

    return {
        **base_versions(args),
        "granian": version("granian"),
        "gunicorn": version("gunicorn"),
        "peer_python": platform.python_version(),
    }


def add_run_args(p: argparse.ArgumentParser, rounds_help: str) -> None:
    """The options every benchmark takes: rounds, wrk's shape, the binary, the results."""
    p.add_argument("--rounds", type=int, default=env_default("BENCH_ROUNDS", 3),
                   help=f"{rounds_help} [BENCH_ROUNDS]")
    p.add_argument("--duration", default=env_default("BENCH_DURATION", "10s"),
                   help="wrk -d for every measured run [BENCH_DURATION]")
    p.add_argument("--connections", type=int, default=env_default("BENCH_CONNECTIONS", 32),
                   help="wrk -c [BENCH_CONNECTIONS]")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk -t")
    p.add_argument("--wsgi-wasm-bin", default=env_default(
                   "WSGI_WASM_BIN", str(REPO / "target/release/wsgi-wasm")),
                   help="the wsgi-wasm binary [WSGI_WASM_BIN]")
    p.add_argument("--results", type=Path, default=BENCH_DIR / "results",
                   help="folder for the JSON results")


def check_run_args(p: argparse.ArgumentParser, args, *durations: str) -> None:
    """Refuses bad run options: rounds below 1, or a duration wrk would not take (the
    extra `durations` may be "0" to mean none)."""
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    parse_seconds(args.duration)
    for value in durations:
        if value not in ("0", "0s"):
            parse_seconds(value)


def run(main, name: str) -> None:
    """Runs a benchmark's main(): its exit status, a one-line failure, no server left."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"\nbench/{name}: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        _kill_all()


PEERS = ("wsgi-wasm", "granian", "gunicorn")


def add_peer_args(p: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that run wsgi-wasm beside gunicorn and Granian."""
    p.add_argument("--warmup", default=env_default("BENCH_WARMUP", "2s"),
                   help="unmeasured wrk run per server before the rounds, which checks every "
                        "response (0 = a 1 s check only) [BENCH_WARMUP]")
    p.add_argument("--warm-starts", type=int, default=env_default("BENCH_WARM_STARTS", 3),
                   help="warm starts to time (0 = skip) [BENCH_WARM_STARTS]")
    p.add_argument("--servers", default=env_default("BENCH_SERVERS", ",".join(PEERS)),
                   help="comma-separated subset to run [BENCH_SERVERS]")
    p.add_argument("--server-cpu", default=env_default("BENCH_SERVER_CPU", "0"),
                   help="taskset -c for the servers [BENCH_SERVER_CPU]")
    p.add_argument("--client-cpu", default=env_default("BENCH_CLIENT_CPU", "1"),
                   help="taskset -c for wrk [BENCH_CLIENT_CPU]")
    p.add_argument("--state", type=Path, default=BENCH_DIR / ".state",
                   help="wsgi-wasm state folder (build cache)")
    p.add_argument("--start-timeout", type=float, default=env_default("BENCH_START_TIMEOUT", 600.0),
                   help="seconds allowed for wsgi-wasm's first (possibly cold) start [BENCH_START_TIMEOUT]")
    p.add_argument("--gunicorn-threads", type=int, default=env_default("BENCH_GUNICORN_THREADS", 4),
                   help="gunicorn gthread --threads [BENCH_GUNICORN_THREADS]")
    p.add_argument("--gunicorn-opts", default=env_default("BENCH_GUNICORN_OPTS",
                                                          "--no-control-socket --keep-alive 10"),
                   help="extra gunicorn options [BENCH_GUNICORN_OPTS]")
    p.add_argument("--granian-opts", default=env_default(
                   "BENCH_GRANIAN_OPTS",
                   "--workers 1 --runtime-mode st --runtime-threads 1 --blocking-threads 8 "
                   "--http 1 --no-ws --no-access-log --log-level warning"),
                   help="Granian options besides interface, address and app [BENCH_GRANIAN_OPTS]")


def subset(p: argparse.ArgumentParser, option: str, value: str, known) -> list[str]:
    """A comma-separated option as a list: not empty, and only `known` names."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or set(names) - set(known):
        p.error(f"{option} must be a comma-separated subset of {sorted(known)}, not {value!r}")
    return names


def check_peer_args(p: argparse.ArgumentParser, args) -> None:
    """check_run_args, and --servers made a list of known servers."""
    args.servers = subset(p, "--servers", args.servers, PEERS)
    if args.warm_starts < 0:
        p.error("--warm-starts must be 0 or more")
    check_run_args(p, args, args.warmup)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_args(p, "measured rounds per server, alternating servers")
    add_peer_args(p)
    p.add_argument("--sites", type=Path, default=REPO / "sites",
                   help="sites folder served by wsgi-wasm (its default site must be hello)")
    args = p.parse_args()
    args.app_dir = args.sites / "hello"
    check_peer_args(p, args)
    return args


def median(values):
    return statistics.median(values) if values else None


SUMMARY_KEYS = ("rps", "rps_per_cpu_s", "cpu_seconds", "cpu_utilisation",
                "latency_p50_ms", "latency_p99_ms", "loadavg_1m", "cpu_pressure_some")


def summarize(rounds: dict[str, list[dict]]) -> dict[str, dict]:
    """Per server, the median over its rounds of every figure of `measure`."""
    return {
        name: {key: median([run[key] for run in runs if run[key] is not None])
               for key in SUMMARY_KEYS}
        for name, runs in rounds.items()
    }


def peer_ratios(summary: dict, rounds: dict) -> tuple[dict, dict]:
    """wsgi-wasm's req/cpu-s over each peer's: from the medians, and round by round."""
    ratios, per_round = {}, {}
    if "wsgi-wasm" in summary:
        for peer in ("gunicorn", "granian"):
            if peer in summary:
                ratios[f"wsgi-wasm/{peer}"] = round(
                    summary["wsgi-wasm"]["rps_per_cpu_s"] / summary[peer]["rps_per_cpu_s"], 3)
                per_round[f"wsgi-wasm/{peer}"] = [
                    round(a["rps_per_cpu_s"] / b["rps_per_cpu_s"], 3)
                    for a, b in zip(rounds["wsgi-wasm"], rounds[peer])
                ]
    return ratios, per_round


def describe(result: dict) -> str:
    """One measured run in one line, for the progress log."""
    return (f"{result['requests']} req, {result['rps']:.0f} req/s, "
            f"{result['cpu_seconds']:.2f} cpu-s ({result['cpu_utilisation'] * 100:.0f}% of a core), "
            f"{result['rps_per_cpu_s']:.0f} req/cpu-s (load {result['loadavg_1m']:.1f})")


TABLE_HEAD = (f"{'req/s':>9} {'cpu-s':>7} {'core %':>7} {'req/cpu-s':>10} "
              f"{'p50 ms':>7} {'p99 ms':>7}")


def table_row(s: dict) -> str:
    """The medians of one server under TABLE_HEAD."""
    return (f"{s['rps']:9.0f} {s['cpu_seconds']:7.2f} {s['cpu_utilisation'] * 100:6.0f}% "
            f"{s['rps_per_cpu_s']:10.0f} {s['latency_p50_ms']:7.2f} {s['latency_p99_ms']:7.2f}")


def run_config(args) -> dict:
    """The run options every report records."""
    return {
        "rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
        "connections": args.connections, "wrk_threads": args.wrk_threads,
        "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
    }


def save_report(args, benchmark: str, stamp: str, report: dict) -> Path:
    """Writes `report` to bench/results/<benchmark>-<stamp>.json; returns the path."""
    out = args.results / f"{benchmark}-{stamp}.json"
    out.write_text(json.dumps({"benchmark": benchmark, "timestamp": stamp, **report}, indent=2) + "\n")
    return out


def measured(rounds: dict, summary: dict, ratios: dict, per_round: dict) -> dict:
    """The measured part of a report: every round, the medians and the ratios."""
    return {"rounds": rounds, "medians": summary, "ratios_rps_per_cpu_s": ratios,
            "per_round_ratios_rps_per_cpu_s": per_round}


def check_tools(args, script: str) -> None:
    """taskset, wrk and curl on PATH, and the wsgi-wasm binary if it is to run."""
    for tool in ("taskset", "wrk", "curl"):
        if not shutil.which(tool):
            raise BenchError(f"`{tool}` is not installed (bench/{script} installs wrk)")
    if "wsgi-wasm" in getattr(args, "servers", ["wsgi-wasm"]) and not os.access(
            args.wsgi_wasm_bin, os.X_OK):
        raise BenchError(f"no wsgi-wasm binary at {args.wsgi_wasm_bin} "
                         "(cargo build --release -p wsgi-wasm, or set WSGI_WASM_BIN)")


def main() -> int:
    args = parse_args()
    check_tools(args, "hello.sh")
    if not (args.app_dir / "app.py").is_file():
        raise BenchError(f"no benchmark app at {args.app_dir / 'app.py'}")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = args.state / "logs" / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    lua = log_dir / "summary.lua"
    lua.write_text(WRK_LUA)
    expect = expected_response(args.app_dir)
    if expect[0] != 200:
        raise BenchError(f"{args.app_dir / 'app.py'} answers {expect[0]}, not 200: not a hello world")
    log(f"expected answer: {expect[0]} {expect[1]!r}; logs in {log_dir}")

    startup = None
    if "wsgi-wasm" in args.servers:
        # The first start builds the sites if the cache is cold; the next
        # ones are warm starts and are what we time.
        log("wsgi-wasm: first start (builds the sites if the cache is cold; can take minutes)")
        first_s = timed_start(wsgi_wasm_server(args, log_dir, "first"), args.server_cpu,
                              args.start_timeout, expect)
        log(f"wsgi-wasm: first start answered after {first_s:.2f} s")
        warm = []
        for i in range(args.warm_starts):
            warm.append(timed_start(wsgi_wasm_server(args, log_dir, f"warm{i + 1}"),
                                    args.server_cpu, 120, expect))
            log(f"wsgi-wasm: warm start {i + 1} answered after {warm[-1]:.3f} s")
        startup = {
            "first_start_s": round(first_s, 3),
            "warm_starts_s": [round(s, 3) for s in warm],
            "warm_start_median_s": round(median(warm), 3) if warm else None,
        }

    servers: dict[str, Server] = {}
    makers = {
        "wsgi-wasm": lambda: wsgi_wasm_server(args, log_dir, "bench"),
        "granian": lambda: granian_server(args, log_dir),
        "gunicorn": lambda: gunicorn_server(args, log_dir),
    }
    for name in args.servers:
        server = makers[name]()
        log(f"{name}: starting ({' '.join(server.argv)})")
        server.start(args.server_cpu)
        server.wait_ready(args.start_timeout if name == "wsgi-wasm" else 60, expect)
        curl_check(server, expect)
        servers[name] = server
        log(f"{name}: answers 200 with the expected body at {server.url}")

    # The warm-up runs check every response (a 200 with the expected body) before timing.
    verify = log_dir / "verify.lua"
    verify.write_text(verify_lua(expect[1]))
    for name, server in servers.items():
        check_for = args.warmup if args.warmup not in ("0", "0s") else "1s"
        log(f"{name}: warm-up and check wrk run ({check_for})")
        verify_responses(args, server, verify, args.client_cpu, check_for, "hello")

    rounds: dict[str, list[dict]] = {name: [] for name in servers}
    names = list(servers)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]  # rotate the order
        for name in order:
            result = measure(args, servers[name], lua)
            result["round"] = r + 1
            rounds[name].append(result)
            log(f"round {r + 1}/{args.rounds} {name:9}: {describe(result)}")
            time.sleep(0.5)
    for server in servers.values():
        curl_check(server, expect)  # still healthy after the load
        server.stop()

    summary = summarize(rounds)
    ratios, per_round_ratios = peer_ratios(summary, rounds)

    out = save_report(args, "hello", stamp, {
        "config": {
            **run_config(args),
            "app": str(args.app_dir / "app.py"),
            "commands": {name: ["taskset", "-c", args.server_cpu, *s.argv]
                         for name, s in servers.items()},
        },
        "versions": versions(args),
        **measured(rounds, summary, ratios, per_round_ratios),
        "wsgi_wasm_startup": startup,
    })

    print_table(args, rounds, summary, ratios, startup)
    print(f"\nraw numbers: {out}")
    return 0


def print_heading(args, what: str, head: str) -> None:
    """The first lines of a results table: what ran, how, and the column heads."""
    print(f"\n{what}, {args.rounds} round(s) x {args.duration}, wrk -t{args.wrk_threads} "
          f"-c{args.connections} on CPU {args.client_cpu}, servers on CPU {args.server_cpu}")
    print("medians over rounds:")
    print(head)
    print("-" * len(head))


def print_table(args, rounds, summary, ratios, startup) -> None:
    print_heading(args, "hello world", f"{'server':10} {TABLE_HEAD}")
    for name, s in summary.items():
        print(f"{name:10} {table_row(s)}")
    if args.rounds > 1:
        print("req/cpu-s per round: " + "; ".join(
            f"{name} " + ", ".join(f"{run['rps_per_cpu_s']:.0f}" for run in runs)
            for name, runs in rounds.items()))
    loads = [s["loadavg_1m"] for s in summary.values() if s["loadavg_1m"] is not None]
    waits = [s["cpu_pressure_some"] for s in summary.values() if s["cpu_pressure_some"] is not None]
    print("machine noise (median per server): load avg " + ", ".join(f"{v:.1f}" for v in loads)
          + ("; runs with a task waiting for a CPU " + ", ".join(f"{v * 100:.0f}%" for v in waits)
             if waits else ""))
    for key, value in ratios.items():
        print(f"{key + ' (req per server cpu-s)':42} {value:6.2f}x")
    if startup:
        warm = startup["warm_start_median_s"]
        print(f"wsgi-wasm start to first response: first start {startup['first_start_s']:.2f} s; "
              + (f"warm median {warm * 1000:.0f} ms over {len(startup['warm_starts_s'])}" if warm is not None
                 else "no warm starts timed"))


if __name__ == "__main__":
    run(main, "hello")
