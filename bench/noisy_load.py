#!/usr/bin/env python3
"""Load generator for the noisy neighbour (site A of bench/noisy.py).

Keeps `--bomb` connections hitting `/bomb` and `--spin` connections hitting `/spin`
back to back, each on a thread of its own, with `Host: noisy.test`, until SIGTERM or
SIGINT. Then it stops starting new requests, waits up to `--drain` seconds for the ones in
flight, and prints one JSON line with the response counts:

    NOISE_JSON {"bomb": {"500": 12}, "spin": {"504": 4}, "errors": {}, "unfinished": 0, ...}

bench/noisy.py runs it pinned with taskset; it also works by hand:

    python3 bench/noisy_load.py http://127.0.0.1:8000/ --host noisy.test
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def worker(endpoint, netloc, host, timeout, stop, counts, errors, lock, busy):
    while not stop.is_set():
        with lock:
            busy[0] += 1
        try:
            conn = http.client.HTTPConnection(netloc, timeout=timeout)
            conn.request("GET", f"/{endpoint}", headers={"Host": host, "Connection": "close"})
            response = conn.getresponse()
            response.read()
            conn.close()
            with lock:
                counts[endpoint][str(response.status)] += 1
        except Exception as error:  # a socket error is a result too, and must not stop us
            with lock:
                errors[f"{endpoint}: {type(error).__name__}"] += 1
            time.sleep(0.05)  # do not spin on a refused connection
        finally:
            with lock:
                busy[0] -= 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000/")
    p.add_argument("--host", default="noisy.test", help="Host header of site A")
    p.add_argument("--bomb", type=int, default=2, help="connections hitting /bomb")
    p.add_argument("--spin", type=int, default=2, help="connections hitting /spin")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout per request (s)")
    p.add_argument("--drain", type=float, default=30.0,
                   help="seconds to wait for requests in flight after SIGTERM")
    args = p.parse_args()

    netloc = urlsplit(args.url).netloc
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"bomb": Counter(), "spin": Counter()}
    errors: Counter = Counter()
    busy = [0]
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    started = time.monotonic()
    threads = [
        threading.Thread(target=worker, daemon=True,
                         args=(endpoint, netloc, args.host, args.timeout, stop,
                               counts, errors, lock, busy))
        for endpoint, n in (("bomb", args.bomb), ("spin", args.spin)) for _ in range(n)
    ]
    for thread in threads:
        thread.start()
    print("NOISE_STARTED", flush=True)
    while not stop.wait(0.2):
        pass
    stopped = time.monotonic()
    deadline = stopped + args.drain
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        report = {
            "bomb": dict(counts["bomb"]),
            "spin": dict(counts["spin"]),
            "errors": dict(errors),
            "unfinished": busy[0],  # still in flight after --drain (not counted above)
            "seconds": round(stopped - started, 3),
            "drain_seconds": round(time.monotonic() - stopped, 3),
        }
    print("NOISE_JSON " + json.dumps(report, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
