#!/usr/bin/env python3
"""Run the benchmark workloads against a real ``obelisk server run`` subprocess and print a table.

Usage: .venv/bin/python bench/run.py [--only W1,W2,W3,W4,W5,SLEEP-RSS] [--runs N] [--db sqlite|postgres]
       [--engine-defaults]

Each workload starts its own servers on free 127.0.0.1 ports with fresh databases (SQLite files, or databases
in a throwaway PostgreSQL cluster with ``--db postgres``; W5 needs it); the shared compile caches
under build/bench-cache/ are warmed first, outside any timing. Every figure is the median of ``--runs`` runs with
the min-max, next to the peers measured on this machine and the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, sleep_rss, w1_serial, w2_throughput, w3_cold_start, w4_kill_restart, w5_two_servers
from bench.databases import DATABASES
from bench.harness import BenchError, Row, WorkloadResult, engine_revision, machine, warm_caches

WORKLOADS: dict[str, Callable[[int], Awaitable[WorkloadResult]]] = {
    "W1": w1_serial.run,
    "W2": w2_throughput.run,
    "W3": w3_cold_start.run,
    "W4": w4_kill_restart.run,
    "W5": w5_two_servers.run,
    "SLEEP-RSS": sleep_rss.run,
}
POSTGRES_ONLY = {"W5"}


async def machine_floor() -> dict[str, float] | None:
    """``bench/floor.py`` in a process of its own: one fresh fibo_activity attempt on this machine, right now."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.floor",
        cwd=harness.REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        print(f"floor probe failed: {err.decode(errors='replace').strip()[-500:]}", file=sys.stderr)
        return None
    floor: dict[str, float] = json.loads(out)
    return floor


def describe_floor(when: str, floor: dict[str, float] | None) -> str:
    if floor is None:
        return f"floor probe {when}: unavailable"
    return (
        f"floor probe {when}: one fresh fibo_activity attempt {floor['step_ms']:.2f} ms"
        f" (min {floor['step_min_ms']:.2f}; instantiate {floor['instantiate_ms']:.2f},"
        f" fibo(10) {floor['call_ms']:.2f}, free {floor['free_ms']:.2f})"
    )


def table(rows: list[Row]) -> str:
    header = ("workload", "metric", "unit", "ours: median (min-max)", "peers", "target")
    lines = [header] + [
        (row.workload, row.metric, row.unit, row.spread(), row.peers_text(), row.verdict()) for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", help="comma-separated: " + ",".join(WORKLOADS) + " (default: all that run on the --db)"
    )
    parser.add_argument(
        "--db", choices=("sqlite", "postgres"), default="sqlite", help="the database of every server (default sqlite)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per workload (default 3)")
    parser.add_argument(
        "--engine-defaults",
        action="store_true",
        help="leave every component exec setting at its default instead of the repository obelisk.toml's",
    )
    args = parser.parse_args()
    everything = [name for name in WORKLOADS if args.db == "postgres" or name not in POSTGRES_ONLY]
    chosen = [name.strip().upper() for name in (args.only or ",".join(everything)).split(",") if name.strip()]
    unknown = [name for name in chosen if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.db != "postgres" and POSTGRES_ONLY & set(chosen):
        parser.error(f"{', '.join(sorted(POSTGRES_ONLY & set(chosen)))} runs on PostgreSQL only: add --db postgres")
    with DATABASES.using(args.db):
        return await _suite(args, chosen)


async def _suite(args: argparse.Namespace, chosen: list[str]) -> int:
    harness.REPOSITORY_EXEC_SETTINGS = not args.engine_defaults
    print(f"machine: {machine().describe()}", flush=True)
    print(f"engine: {engine_revision()}", flush=True)
    settings = "engine defaults" if args.engine_defaults else "as in the repository obelisk.toml"
    print(f"component exec settings: {settings}; database: {DATABASES.describe()}", flush=True)
    started = time.perf_counter()
    try:
        print(f"warming the compile caches: {await warm_caches():.1f} s", flush=True)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    floor_before = await machine_floor()
    print(describe_floor("before", floor_before), flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    failed = False
    for name in chosen:
        workload_started = time.perf_counter()
        print(f"running {name} ({args.runs} runs) ...", flush=True)
        try:
            result = await WORKLOADS[name](args.runs)
        except BenchError as error:
            failed = True
            notes.append(f"{name}: FAILED: {error}")
            print(f"{name} FAILED: {error}", file=sys.stderr, flush=True)
            continue
        rows += result.rows
        notes += result.notes
        print(f"  {name} done in {time.perf_counter() - workload_started:.1f} s", flush=True)
    floor_after = await machine_floor()
    print()
    print(table(rows))
    print()
    for note in notes:
        print(note)
    print(describe_floor("before", floor_before))
    print(describe_floor("after", floor_after))
    floors = [f["step_ms"] for f in (floor_before, floor_after) if f is not None]
    for row in rows:
        if row.metric == "per serial step" and floors and row.values:
            floor_ms = sum(floors) / len(floors)
            print(
                f"{row.workload} per serial step / floor: {row.median / floor_ms:.2f}"
                f" ({row.median:.2f} ms vs {floor_ms:.2f} ms; a step cannot cost less than one fresh attempt)"
            )
    print(f"\nmachine load average at the end: {' '.join(f'{v:.2f}' for v in machine().load_average)}")
    print(f"suite took {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
