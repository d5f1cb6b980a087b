#!/usr/bin/env python3
"""Run the benchmark workloads against a real ``obelisk server run`` subprocess and print a table.

Usage: .venv/bin/python bench/run.py [--only W1,W1-engine,W2,W3,W4,W5,SLEEP-RSS,COUNTS] [--runs N]
       [--db sqlite|postgres] [--engine-defaults] [--peers DIR [--peers-root DIR] [--peer-reps N]]
       [--check] [--record-baseline]

Each workload starts its own servers on free 127.0.0.1 ports with fresh databases (SQLite files, or databases
in a throwaway PostgreSQL cluster with ``--db postgres``; W5 needs it); the shared compile caches
under build/bench-cache/ are warmed first, outside any timing. Every figure is the median of ``--runs`` runs with
the min-max, next to the peers (measured in the same invocation with ``--peers``, else the last recorded figures)
and the target. COUNTS are counted, not timed: ``--check`` fails when one grew past ``bench/baseline.json``.
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

from bench import (
    counts,
    harness,
    peers,
    sleep_rss,
    w1_engine,
    w1_serial,
    w2_throughput,
    w3_cold_start,
    w4_kill_restart,
    w5_two_servers,
)
from bench.databases import DATABASES
from bench.harness import BenchError, Row, WorkloadResult, engine_revision, machine, warm_caches

WORKLOADS: dict[str, Callable[[int], Awaitable[WorkloadResult]]] = {
    "W1": w1_serial.run,
    "W1-engine": w1_engine.run,
    "W2": w2_throughput.run,
    "W3": w3_cold_start.run,
    "W4": w4_kill_restart.run,
    "W5": w5_two_servers.run,
    "SLEEP-RSS": sleep_rss.run,
    "COUNTS": counts.run,
}
POSTGRES_ONLY = {"W5"}
WAT_ONLY = {"W1-engine", "COUNTS"}
"""Workloads that run the WAT fixtures only: they need neither the example components nor their warm caches."""


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
        f" fibo(10) {floor['call_ms']:.2f}, free {floor['free_ms']:.2f}; {_shootdowns(floor, 'shootdowns')});"
        f" beside a busy thread of its process {floor['beside_busy_step_ms']:.2f} ms"
        f" ({_shootdowns(floor, 'beside_busy_shootdowns')})"
    )


def _shootdowns(floor: dict[str, float], key: str) -> str:
    per_attempt = floor[f"{key}_per_attempt"]
    return "TLB shootdowns unread" if per_attempt < 0 else f"{per_attempt:.1f} TLB shootdowns/attempt"


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
    parser.add_argument(
        "--peers",
        type=Path,
        metavar="DIR",
        help="run the peers' drivers found in DIR after our workloads and print the ratios of this run",
    )
    parser.add_argument(
        "--peers-root",
        type=Path,
        default=peers.DEFAULT_ROOT,
        metavar="DIR",
        help=f"where the peers are installed (default {peers.DEFAULT_ROOT}: PEERS_ROOT or the drivers' own)",
    )
    parser.add_argument("--peer-reps", type=int, default=3, help="repetitions per peer driver (default 3)")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"run COUNTS and fail if a count grew past {counts.BASELINE_FILE.relative_to(harness.REPO)}",
    )
    parser.add_argument(
        "--record-baseline",
        action="store_true",
        help=f"run COUNTS and write its figures for this --db into {counts.BASELINE_FILE.relative_to(harness.REPO)}",
    )
    args = parser.parse_args()
    everything = [name for name in WORKLOADS if args.db == "postgres" or name not in POSTGRES_ONLY]
    by_upper = {name.upper(): name for name in WORKLOADS}
    requested = [name.strip().upper() for name in (args.only or ",".join(everything)).split(",") if name.strip()]
    unknown = [name for name in requested if name not in by_upper]
    chosen = [by_upper[name] for name in requested if name in by_upper]
    if (args.check or args.record_baseline) and "COUNTS" not in chosen:
        chosen.append("COUNTS")
    if args.peers is not None and not args.peers.is_dir():
        parser.error(f"--peers: {args.peers} is not a directory")
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
    examples_built = True
    try:
        harness.check_components()
    except BenchError:
        examples_built = False
    if not set(chosen) <= WAT_ONLY:
        try:
            print(f"warming the compile caches: {await warm_caches():.1f} s", flush=True)
        except BenchError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    floor_before = await machine_floor() if examples_built else None
    print(describe_floor("before", floor_before), flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    failed = False
    measured: dict[str, list[float]] = {}
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
        if result.rows and name in ("W1", "W1-engine", "W2"):
            measured[name] = result.rows[0].values
        if result.counts is not None:
            failed |= not _check_counts(args, result.counts, notes)
        print(f"  {name} done in {time.perf_counter() - workload_started:.1f} s", flush=True)
    if args.peers is not None:
        peers_started = time.perf_counter()
        print(f"running the peers of {args.peers} ({args.peer_reps} repetitions each) ...", flush=True)
        figures = await peers.measure(args.peers.resolve(), args.peers_root, args.peer_reps)
        _use_measured_peers(rows, figures)
        notes += ["peers measured in this run:", *figures.log, *(f"peer FAILED: {p}" for p in figures.problems)]
        notes += ["ratios measured in this run (ours / peer):", *peers.ratio_lines(measured, figures)]
        print(f"  peers done in {time.perf_counter() - peers_started:.1f} s", flush=True)
    floor_after = await machine_floor() if examples_built else None
    print()
    print(table(rows))
    print()
    for note in notes:
        print(note)
    print(describe_floor("before", floor_before))
    print(describe_floor("after", floor_after))
    floors = [f["step_ms"] for f in (floor_before, floor_after) if f is not None]
    for row in rows:
        if row.workload == "W1" and row.metric == "per serial step" and floors and row.values:
            floor_ms = sum(floors) / len(floors)
            print(
                f"{row.workload} per serial step / floor: {row.median / floor_ms:.2f}"
                f" ({row.median:.2f} ms vs {floor_ms:.2f} ms; a step cannot cost less than one fresh attempt)"
            )
    print(f"\nmachine load average at the end: {' '.join(f'{v:.2f}' for v in machine().load_average)}")
    print(f"suite took {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


def _check_counts(args: argparse.Namespace, measured: counts.StepCounts, notes: list[str]) -> bool:
    """``--record-baseline`` writes the counts of this --db; ``--check`` compares with them. False: a check failed."""
    if args.record_baseline:
        counts.record_baseline(DATABASES.kind, measured)
        notes.append(f"COUNTS: recorded as the {DATABASES.kind} baseline in {counts.BASELINE_FILE}")
        return True
    if not args.check:
        return True
    baseline = counts.load_baseline().get(DATABASES.kind)
    if baseline is None:
        notes.append(f"COUNTS check FAILED: {counts.BASELINE_FILE} has no {DATABASES.kind} baseline")
        return False
    problems = counts.exceeded(measured, baseline)
    if problems:
        notes += [f"COUNTS check FAILED: {problem}" for problem in problems]
        return False
    notes.append(f"COUNTS check passed: no checked count above the {DATABASES.kind} baseline")
    return True


def _use_measured_peers(rows: list[Row], figures: peers.PeerFigures) -> None:
    """The W1 and W2 rows compare with the peers measured in this run (targets: the best of them)."""
    for row in rows:
        if row.workload == "W1" and row.peers and figures.w1_seconds:
            row.peers, row.peers_measured = dict(figures.w1_seconds), True
            row.target = min(figures.w1_seconds.values())
        elif row.workload == "W2" and row.peers and figures.w2_per_second:
            row.peers, row.peers_measured = dict(figures.w2_per_second), True
            row.target = max(figures.w2_per_second.values())
        elif row.workload == "W1-engine" and row.unit == "s" and "DBOS" in figures.w1_seconds:
            row.peers, row.peers_measured = {"DBOS W1": figures.w1_seconds["DBOS"]}, True


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
