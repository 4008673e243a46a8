"""A small open-loop load generator: requests are due at a fixed rate whatever the server
does, and each latency is measured from when its request was due (so a stalled server is
charged for the requests that queued behind the stall: no coordinated omission).

The suite's fixed-rate scenario uses oha for the figures that count; this is what the CI
smoke uses instead of compiling oha (6-10 minutes), and what any run falls back to when oha
is not installed (`suite.py --latency-tool python`). It is good for the low rates that
scenario uses (half the slowest server's throughput, a few hundred requests per second);
the JSON names which tool measured.

    python3 openloop.py URL RATE SECONDS [CONNECTIONS]   # prints JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def _worker(host: str, port: int, request: bytes, due: asyncio.Queue, out: list) -> None:
    reader = writer = None
    while True:
        when = await due.get()
        if when is None:
            if writer:
                writer.close()
            return
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            # The server closes after this response (HTTP/1.0, `Connection: close`).
            closing = status_line.startswith(b"HTTP/1.0")
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
                if name.strip().lower() == b"connection":
                    closing = value.strip().lower() == b"close"
            await reader.readexactly(length)
            out.append((status, time.perf_counter() - when))
            if closing:
                writer.close()
                reader = writer = None
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            out.append((f"error: {error!r}", time.perf_counter() - when))
            if writer:
                writer.close()
            reader = writer = None


async def run(url: str, rate: float, seconds: float, connections: int = 32) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    due: asyncio.Queue = asyncio.Queue()
    out: list = []
    workers = [asyncio.create_task(_worker(host, port, request, due, out))
               for _ in range(connections)]
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        when = start + i / rate
        delay = when - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(when)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies = sorted(latency for _, latency in out)
    codes: dict = {}
    for status, _ in out:
        codes[str(status)] = codes.get(str(status), 0) + 1

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return {
        "tool": "openloop.py (Python asyncio, open loop, latency from the due time)",
        "requests": len(out),
        "achieved_rps": len(out) / elapsed if elapsed else 0.0,
        "status_codes": codes,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "slowest": latencies[-1] if latencies else 0.0,
    }


if __name__ == "__main__":
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    print(json.dumps(asyncio.run(run(url, rate, seconds, connections))))
