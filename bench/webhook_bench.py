#!/usr/bin/env python3
"""Throughput and latency of a trivial webhook (``components/hello_webhook``) under a bounded local load.

Starts an in-process server with one ``[[http_server]]`` and the hello webhook, then sends ``--requests`` GETs
from ``--concurrency`` aiohttp client tasks (the client shares the machine and the event loop's process, so the
figures are a lower bound for a remote client). Each run reports requests/s and p50/p99 latency; the summary is
the median of the runs with their min-max. Every response is checked (status 200 and the expected body), so a
fast but wrong server cannot produce a figure.

Usage: .venv/bin/python bench/webhook_bench.py [--requests 2000] [--concurrency 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # so that `python bench/...` works without installing the package

from obelisk.config.loading import load_config  # noqa: E402
from obelisk.server import Server  # noqa: E402


async def _one_run(base: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                async with session.get(f"{base}/hello/{index}") as response:
                    body = await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status != 200 or not body.startswith(f"GET /hello/{index}\n".encode()):
                    raise AssertionError(f"unexpected response {response.status} {body[:80]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return requests / elapsed, p50 * 1000, p99 * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--permits", default="unlimited", help="max_inflight_requests of the http_server")
    args = parser.parse_args()
    wasm = REPO / "build" / "components" / "hello_webhook.wasm"
    if not wasm.exists():
        sys.exit(f"{wasm} is missing; build it with scripts/build-components --only hello_webhook")
    permits = args.permits if args.permits == "unlimited" else int(args.permits)
    permits_toml = f'"{permits}"' if permits == "unlimited" else str(permits)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "obelisk.toml"
        config_path.write_text(
            f"""
api.listening_addr = "127.0.0.1:0"
sqlite.file = "{tmp}/obelisk.sqlite"
codegen_cache.directory = "{REPO / "build" / "test-cache" / "codegen"}"
[[http_server]]
name = "bench"
listening_addr = "127.0.0.1:0"
max_inflight_requests = {permits_toml}
[[webhook_endpoint]]
name = "hello_webhook"
location.path = "{wasm}"
http_server = "bench"
routes = ["/hello/:ID"]
"""
        )
        loaded = load_config(config_path, env={"HOME": tmp})
        server = await Server.start(loaded.config)
        try:
            base = f"http://127.0.0.1:{server.http_server_port('bench')}"
            await _one_run(base, 50, args.concurrency)  # warm-up: code paths, thread pool, connections
            results = []
            for run in range(args.runs):
                rps, p50, p99 = await _one_run(base, args.requests, args.concurrency)
                results.append((rps, p50, p99))
                print(f"run {run + 1}: {rps:7.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms", flush=True)
        finally:
            await server.stop()
    for label, index, unit in (("requests/s", 0, ""), ("p50", 1, " ms"), ("p99", 2, " ms")):
        values = [r[index] for r in results]
        print(
            f"{label:>10}: median {statistics.median(values):.1f}{unit} (min {min(values):.1f}, max {max(values):.1f})"
        )
    print(f"({args.requests} requests at concurrency {args.concurrency}, {args.runs} runs)")


if __name__ == "__main__":
    asyncio.run(main())
