#!/usr/bin/env python3
"""Framework benchmark: a Flask page and a Django page, served by wsgi-wasm and natively by
gunicorn (gthread) and Granian, in requests per server CPU-second, plus every server's time
from start to first response.

Every server runs the same app code: wsgi-wasm serves copies of `sites/flask` and
`sites/django` (the two sites in one process, as an operator would run them); the native
peers serve another copy of each site folder, one gunicorn and one Granian per site, from
`bench/.venv` with the very versions of the requirements that wsgi-wasm vendored into the
component (read from the build it loaded; pip-installed here before the peers start; a
version pip cannot install on this Python is replaced by the closest older one, and the
results say so). The native peers get the site's `[app].env` and `python_path`; a site with
`data` folders gets them as the guest sees them (see `native_data`).

Per page, every server must answer 200 with the page's marker in the body before timing, and
wrk fails the run on any socket error or non-2xx/3xx answer. The server is pinned to one CPU
and wrk to another; the headline figure is requests per server CPU-second (hello.py's
`measure`), and the ratios wsgi-wasm/gunicorn and wsgi-wasm/Granian per page. The start
times: `--warm-starts` fresh starts per page and server, each timed from spawn to the first
good answer of that page, with wsgi-wasm's build cache warm (a first, untimed start builds
the sites if it is cold).

Run it through `bench/frameworks.sh`, which installs wrk and the venv with the peers and
builds the release binary; this script expects to run under `bench/.venv/bin/python`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import hello
from hello import (
    REPO,
    TABLE_HEAD,
    WRK_LUA,
    BenchError,
    Server,
    describe,
    log,
    measure,
    median,
    peer_ratios,
    summarize,
    table_row,
    timed_start,
)


@dataclass(frozen=True)
class Page:
    site: str  # the folder under sites/
    path: str  # the page measured
    marker: bytes  # a right answer is a 200 whose body holds this
    what: str  # what rendering the page takes, for the report

    def expect(self, status: int, body: bytes) -> str | None:
        """What is wrong with an answer to the page, or None."""
        if status != 200:
            return "expected a 200"
        if self.marker not in body:
            return f"the body lacks {self.marker!r}"
        return None


PAGES = {
    "flask": Page(
        "flask", "/hello/bench", b"<h1>Hello, bench!</h1>",
        "Jinja2 template extending a base layout, url_for links, flashed messages "
        "(none: the request has no session cookie)",
    ),
    "django": Page(
        "django", "/admin/login/", b'name="csrfmiddlewaretoken"',
        "the admin's login form: template inheritance, i18n, a CSRF token and its cookie "
        "(no database query: the request has no session cookie)",
    ),
    # Not run by default: a page that reads the site's sqlite database on every request
    # (one connection per request, CONN_MAX_AGE 0; wsgi-wasm runs the requests of a site
    # with writable data one at a time).
    "django-db": Page(
        "django", "/", b'<ul id="entries">',
        "the guestbook's public page: one sqlite query (opening the database file) and a "
        "template",
    ),
}
DEFAULT_PAGES = ("flask", "django")


@dataclass
class Site:
    """A site of the pages as both kinds of server run it."""

    name: str
    source: Path  # sites/<name>
    wasm_dir: Path  # wsgi-wasm's copy
    native_dir: Path  # the native peers' copy
    host: str  # the Host header of every request (the site's first server name)
    target: str  # module:callable
    env: dict  # the native peers' environment additions
    requirements: Path | None  # in the native copy
    notes: list[str] = field(default_factory=list)

    def headers(self) -> dict:
        return {"Host": self.host}


def copy_site(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def native_data(site: Site, app: dict, data: list[str]) -> None:
    """How the native peers find the site's `data` folders, which wsgi-wasm mounts
    read-write at `/<folder>` in the guest. A site that names its data folder with an
    environment variable (`[app].env`) is pointed at the native copy's folder; the folder
    itself is copied with the site, so both kinds of server start from the same data."""
    for folder in data:
        guest = "/" + folder.strip("/")
        keys = [key for key, value in site.env.items() if value.rstrip("/") == guest]
        if not keys:
            raise BenchError(
                f"{site.source}: the data folder `{folder}` is reached at `{guest}` in the "
                f"guest and no [app].env value names it, so the native peers could not be "
                f"pointed at their copy: give the site an env var for it")
        for key in keys:
            site.env[key] = str(site.native_dir / folder)
            site.notes.append(f"native {key}={site.env[key]} (guest: {guest})")


def load_site(args, name: str, work: Path) -> Site:
    """Reads the site's site.toml and makes the two copies."""
    source = args.sites / name
    if not (source / "site.toml").is_file():
        raise BenchError(f"no site at {source} (leave its page out with --pages)")
    config = tomllib.loads((source / "site.toml").read_text())
    app = config.get("app", {})
    names = [n for n in config.get("server_names", []) if "*" not in n]
    if not names:
        raise BenchError(f"{source / 'site.toml'}: the benchmark needs an exact server name")
    if app.get("mount", "/").rstrip("/"):
        raise BenchError(f"{source / 'site.toml'}: [app] mount is not `/`; "
                         "the native peers serve the app at the root")
    site = Site(
        name=name,
        source=source,
        wasm_dir=work / "wasm-sites" / name,
        native_dir=work / "native" / name,
        host=names[0],
        target=f"{app.get('module', 'app')}:{app.get('callable', 'application')}",
        env=dict(app.get("env", {})),
        requirements=None,
    )
    copy_site(source, site.wasm_dir)
    copy_site(source, site.native_dir)
    paths = [str((site.native_dir / p).resolve()) for p in app.get("python_path", ["."])]
    site.env["PYTHONPATH"] = ":".join(paths)
    if app.get("requirements"):
        site.requirements = site.native_dir / app["requirements"]
    native_data(site, app, app.get("data", []))
    if app.get("vars"):
        site.notes.append(f"[app].vars {sorted(app['vars'])} are not given to the native peers")
    return site


# --------------------------------------------------------------------------
# The same packages natively
# --------------------------------------------------------------------------


def loaded_build(state: Path, site: str, pid: int) -> Path:
    """The build folder of `site` that the running wsgi-wasm `pid` loaded: the one whose
    compiled component it has mapped."""
    builds = (state / "sites" / site).resolve()
    pattern = re.compile(re.escape(str(builds)) + r"/([0-9a-f]{16,})/component-[^/\s]*\.cwasm")
    match = pattern.search(Path(f"/proc/{pid}/maps").read_text())
    if not match:
        raise BenchError(f"wsgi-wasm (pid {pid}) has no component of `{site}` under {builds} mapped")
    return builds / match.group(1)


def vendored_versions(build: Path) -> dict[str, str]:
    """name → version of every distribution in the build's last python folder (the
    vendored requirements)."""
    dirs = sorted((p for p in (build / "py").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    found = {}
    for dist in dirs[-1].glob("*.dist-info"):
        meta = metadata.Distribution.at(dist).metadata
        found[meta["Name"]] = meta["Version"]
    return found


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def pip_install(specs: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           *specs], capture_output=True, text=True)


def install_natively(wanted: dict[str, str]) -> dict[str, dict]:
    """pip-installs `wanted` (name → version) into this venv. A version that pip cannot
    install here (e.g. one that needs a newer Python) is replaced by the newest one below it.
    Returns name → {vendored, native}."""
    missing = [f"{n}=={v}" for n, v in wanted.items() if installed(n) != v]
    if missing:
        log(f"pip install {' '.join(missing)}")
        if pip_install(missing).returncode != 0:
            for spec in missing:
                if pip_install([spec]).returncode == 0:
                    continue
                name, version = spec.split("==")
                log(f"{spec} does not install on Python {sys.version.split()[0]}; "
                    f"using the newest {name} below {version}")
                result = pip_install([f"{name}<{version}"])
                if result.returncode != 0:
                    raise BenchError(f"pip could not install {name} (<= {version}):\n{result.stderr}")
    return {n: {"vendored": v, "native": installed(n)} for n, v in wanted.items()}


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


def wsgi_wasm_server(args, work: Path, log_dir: Path, tag: str) -> Server:
    return Server(
        name="wsgi-wasm",
        argv=[args.wsgi_wasm_bin, "serve", "--admin", "off", "--listen", "127.0.0.1:0",
              "--sites", str(work / "wasm-sites"), "--state", str(args.state)],
        log_path=log_dir / f"wsgi-wasm-{tag}.log",
        stdout_path=log_dir / f"wsgi-wasm-{tag}.stdout",
    )


def native_server(args, name: str, site: Site, log_dir: Path, tag: str) -> Server:
    make = hello.gunicorn_server if name == "gunicorn" else hello.granian_server
    return make(args, log_dir, app_dir=site.native_dir, target=site.target,
                tag=f"-{site.name}-{tag}", env=site.env)


def at(server: Server, page: Page) -> Server:
    """The server, aimed at the page (hello's wrk driver uses `server.url`)."""
    server.url = "/".join(server.url.split("/", 3)[:3]) + page.path
    return server


def wait_page(server: Server, page: Page, site: Site, timeout: float) -> float:
    return server.wait_ready(timeout, page.expect, page.path, site.headers())


def first_start(args, name: str, server: Server, pages: dict[str, Page], sites) -> float:
    """Starts the server and waits until every page answers right; leaves it running. This
    start builds what a cold cache lacks (wsgi-wasm: the components; natively: the sites'
    bytecode) and brings the sites' data up to date (Django migrates an empty database)."""
    server.start(args.server_cpu)
    for page in pages.values():
        seconds = wait_page(server, page, sites[page.site], args.start_timeout)
    log(f"{name}: first start answered {', '.join(pages)} after {seconds:.2f} s")
    return seconds


def warm_starts(args, name: str, page: Page, site: Site, make) -> dict:
    """`--warm-starts` fresh starts of a server, each timed from spawn to the page's first
    good answer."""
    times = []
    for i in range(args.warm_starts):
        server = make(f"start{i + 1}")
        times.append(timed_start(server, args.server_cpu, 120, page.expect, page.path,
                                 site.headers()))
        log(f"{name}: start {i + 1} answered {page.path} (Host: {site.host}) "
            f"after {times[-1] * 1000:.0f} ms")
    return {"starts_s": [round(t, 4) for t in times],
            "median_ms": round(median(times) * 1000, 1) if times else None}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options (from `argv`, else the command line); bench/suite.py passes its own."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hello.add_run_args(p, "measured rounds per page and server, the server order rotating")
    hello.add_peer_args(p)
    p.add_argument("--pages", default=hello.env_default("BENCH_PAGES", ",".join(DEFAULT_PAGES)),
                   help=f"comma-separated subset of {sorted(PAGES)} [BENCH_PAGES]")
    p.add_argument("--sites", type=Path, default=REPO / "sites",
                   help="the folder holding the sites of the pages (copied before the run)")
    args = p.parse_args(argv)
    args.pages = hello.subset(p, "--pages", args.pages, PAGES)
    hello.check_peer_args(p, args)
    return args


def main() -> int:
    bench(parse_args())
    return 0


def bench(args) -> dict:
    """The whole benchmark: starts, runs, writes the JSON, prints the table; returns the
    report (its path under "results_file")."""
    hello.check_tools(args, "frameworks.sh")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = (args.state / "frameworks" / stamp).resolve()
    log_dir = args.state / "logs" / f"frameworks-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    pages = {name: PAGES[name] for name in args.pages}
    sites: dict[str, Site] = {}
    for page in pages.values():
        if page.site not in sites:
            sites[page.site] = load_site(args, page.site, work)
    luas = {}
    for name, page in pages.items():
        luas[name] = log_dir / f"{name}.lua"
        luas[name].write_text(f'wrk.headers["Host"] = "{sites[page.site].host}"\n' + WRK_LUA)
    for site in sites.values():
        for note in site.notes:
            log(f"{site.name}: {note}")
    log(f"sites copied to {work}; logs in {log_dir}")

    # wsgi-wasm first: its first start builds the sites if the cache is cold, and its build
    # tells which package versions the native peers must get.
    startup: dict[str, dict[str, dict]] = {name: {} for name in pages}
    packages = {}
    if "wsgi-wasm" in args.servers:
        log("wsgi-wasm: first start (builds the sites if the cache is cold; can take minutes)")
        first = wsgi_wasm_server(args, work, log_dir, "first")
        first_s = first_start(args, "wsgi-wasm", first, pages, sites)
        builds = {name: loaded_build(args.state, name, first.proc.pid) for name in sites}
        first.stop()
        for name, page in pages.items():
            startup[name]["wsgi-wasm"] = {"first_start_s": round(first_s, 3), **warm_starts(
                args, "wsgi-wasm", page, sites[page.site],
                lambda tag: wsgi_wasm_server(args, work, log_dir, tag))}
        for name, site in sites.items():
            packages[name] = install_natively(vendored_versions(builds[name]))
            for package, v in packages[name].items():
                if v["native"] != v["vendored"]:
                    site.notes.append(f"{package} {v['native']} natively, {v['vendored']} in wsgi-wasm")
                    log(f"{name}: {site.notes[-1]}")
    else:
        for site in sites.values():
            if site.requirements:
                log(f"{site.name}: wsgi-wasm not run; pip install -r {site.requirements}")
                result = pip_install(["-r", str(site.requirements)])
                if result.returncode != 0:
                    raise BenchError(f"pip install -r {site.requirements} failed:\n{result.stderr}")

    peers = [n for n in args.servers if n != "wsgi-wasm"]
    for site in sites.values():
        site_pages = {name: page for name, page in pages.items() if page.site == site.name}
        for peer in peers:
            first = native_server(args, peer, site, log_dir, "first")
            first_s = first_start(args, peer, first, site_pages, sites)
            first.stop()
            for name, page in site_pages.items():
                startup[name][peer] = {"first_start_s": round(first_s, 3), **warm_starts(
                    args, peer, page, site,
                    lambda tag: native_server(args, peer, site, log_dir, tag))}

    # The measured servers: one wsgi-wasm for every site, one gunicorn and one Granian per site.
    targets: dict[str, dict[str, Server]] = {name: {} for name in pages}
    running: list[Server] = []
    if "wsgi-wasm" in args.servers:
        running.append(wsgi_wasm_server(args, work, log_dir, "bench"))
        for name in pages:
            targets[name]["wsgi-wasm"] = running[-1]
    for site in sites.values():
        for peer in peers:
            running.append(native_server(args, peer, site, log_dir, "bench"))
            for name, page in pages.items():
                if page.site == site.name:
                    targets[name][peer] = running[-1]
    for server in running:
        server.start(args.server_cpu)
    for name, page in pages.items():
        for server_name, server in targets[name].items():
            wait_page(server, page, sites[page.site], 60)
            log(f"{server_name}: answers {name} {page.path} (Host: {sites[page.site].host}) right")

    # The warm-up runs check every response (a 200 with the page's marker) before timing.
    check_for = args.warmup if args.warmup not in ("0", "0s") else "1s"
    for name, by_server in targets.items():
        verify = log_dir / f"verify-{name}.lua"
        verify.write_text(hello.verify_lua(None, sites[pages[name].site].host, pages[name].marker))
        for server_name, server in by_server.items():
            log(f"{server_name}: warm-up and check wrk run on {name} ({check_for})")
            hello.verify_responses(args, at(server, pages[name]), verify, args.client_cpu,
                                   check_for, name)

    rounds = {name: {s: [] for s in by_server} for name, by_server in targets.items()}
    for r in range(args.rounds):
        for name, by_server in targets.items():
            names = list(by_server)
            for server_name in names[r % len(names):] + names[: r % len(names)]:
                result = measure(args, at(by_server[server_name], pages[name]), luas[name])
                result["round"] = r + 1
                rounds[name][server_name].append(result)
                log(f"round {r + 1}/{args.rounds} {name:9} {server_name:9}: {describe(result)}")
                time.sleep(0.5)
    for name, page in pages.items():
        for server in targets[name].values():
            wait_page(server, page, sites[page.site], 30)  # still right after the load
    for server in running:
        server.stop()

    summary = {name: summarize(by_server) for name, by_server in rounds.items()}
    ratios, per_round = {}, {}
    for name in rounds:
        ratios[name], per_round[name] = peer_ratios(summary[name], rounds[name])

    report = {
        "config": {
            **hello.run_config(args),
            "warm_starts": args.warm_starts,
            "pages": {name: {"site": page.site, "path": page.path, "host": sites[page.site].host,
                             "marker": page.marker.decode(), "what": page.what}
                      for name, page in pages.items()},
            "sites": {name: {"source": str(site.source), "native_target": site.target,
                             "native_env": site.env, "notes": site.notes}
                      for name, site in sites.items()},
            "commands": [["taskset", "-c", args.server_cpu, *server.argv] for server in running],
        },
        "versions": {**hello.versions(args), "work_tree_changes": git_dirty(),
                     "packages": packages},
        **hello.measured(rounds, summary, ratios, per_round),
        "start_to_first_response": startup,
    }
    out = hello.save_report(args, "frameworks", stamp, report)
    shutil.rmtree(work, ignore_errors=True)
    print_table(args, sites, rounds, summary, ratios, per_round, startup)
    print(f"\nraw numbers: {out}")
    report["results_file"] = str(out)
    return report


def git_dirty() -> list[str]:
    """Files changed in the work tree against the commit recorded (the binary may hold them)."""
    result = subprocess.run(["git", "-C", str(REPO), "status", "--short", "--untracked-files=no"],
                            capture_output=True, text=True)
    return result.stdout.splitlines()


def print_table(args, sites, rounds, summary, ratios, per_round, startup) -> None:
    hello.print_heading(args, "framework pages",
                        f"{'page':9} {'server':10} {TABLE_HEAD} {'bytes':>6} {'start ms':>9} {'first s':>8}")
    for name, by_server in summary.items():
        for server_name, s in by_server.items():
            bytes_ = median([run["bytes_per_request"] for run in rounds[name][server_name]])
            start = startup[name].get(server_name, {})
            print(f"{name:9} {server_name:10} {table_row(s)} {bytes_:6.0f} "
                  f"{start.get('median_ms') or '-':>9} {start.get('first_start_s', '-'):>8}")
    for name, page_ratios in ratios.items():
        for key, value in page_ratios.items():
            spread = ", ".join(f"{r:.2f}" for r in per_round[name][key])
            print(f"{name:9} {key + ' (req per server cpu-s)':42} {value:6.2f}x  rounds: {spread}")
    loads = [s["loadavg_1m"] for by_server in summary.values() for s in by_server.values()]
    waits = [s["cpu_pressure_some"] for by_server in summary.values() for s in by_server.values()
             if s["cpu_pressure_some"] is not None]
    print(f"machine noise: load avg {min(loads):.1f}-{max(loads):.1f}"
          + (f"; share of a run with a task waiting for a CPU {min(waits) * 100:.0f}-"
             f"{max(waits) * 100:.0f}%" if waits else ""))
    print(f"start ms: median of {args.warm_starts} fresh start(s), spawn to the page's first good "
          "answer (wsgi-wasm with a warm build cache); first s: the first start, which fills "
          "the caches (a cold wsgi-wasm build, native bytecode) and migrates the databases")
    for site in sites.values():
        for note in site.notes:
            print(f"note ({site.name}): {note}")


if __name__ == "__main__":
    hello.run(main, "frameworks")
