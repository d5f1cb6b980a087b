"""Measure the SQLite storage's write latency and group-commit throughput (not a test: run it by hand).

    .venv/bin/python -m tests.storage.measure_sqlite [--synchronous FULL] [--appends 500] [--writers 20]

Prints the median of three runs, with min and max, for: one awaited ``append`` at a time, and per-op cost with
``--writers`` concurrent writers each appending in a loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from obelisk.concepts.events import JoinSetCreated
from obelisk.concepts.ids import ExecutionId, JoinSetId
from obelisk.storage.interface import CreateExecution
from obelisk.storage.sqlite import SqliteStorage

from .helpers import T0, created


async def _serial(path: Path, synchronous: str, appends: int) -> float:
    storage = await SqliteStorage.open(path, synchronous=synchronous)
    try:
        eid = ExecutionId.generate()
        await storage.create(eid, created(), T0)
        version = 1
        started = time.perf_counter()
        for _ in range(appends):
            version = await storage.append(eid, version, [JoinSetCreated(JoinSetId.generate())], T0)
        return (time.perf_counter() - started) / appends * 1e6
    finally:
        await storage.close()


async def _concurrent(path: Path, synchronous: str, writers: int, appends: int) -> tuple[float, float]:
    storage = await SqliteStorage.open(path, synchronous=synchronous)
    try:
        ids = [ExecutionId.generate() for _ in range(writers)]
        await storage.write([CreateExecution(eid, created()) for eid in ids], T0)
        commits = storage.stats.commits

        async def writer(eid: ExecutionId) -> None:
            version = 1
            for _ in range(appends):
                version = await storage.append(eid, version, [JoinSetCreated(JoinSetId.generate())], T0)

        started = time.perf_counter()
        await asyncio.gather(*(writer(eid) for eid in ids))
        elapsed = time.perf_counter() - started
        ops = writers * appends
        return elapsed / ops * 1e6, ops / (storage.stats.commits - commits)
    finally:
        await storage.close()


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f} (min {min(values):.0f}, max {max(values):.0f})"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--writers", type=int, default=20)
    args = parser.parse_args()
    serial, concurrent, per_commit = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(3):
            serial.append(await _serial(Path(tmp) / f"s{run}.sqlite", args.synchronous, args.appends))
            us, ops = await _concurrent(
                Path(tmp) / f"c{run}.sqlite", args.synchronous, args.writers, args.appends // 10
            )
            concurrent.append(us)
            per_commit.append(ops)
    print(f"synchronous={args.synchronous}")
    print(f"serial append: {_summary(serial)} us per awaited append")
    print(f"{args.writers} concurrent writers: {_summary(concurrent)} us per op; ops per commit {_summary(per_commit)}")


if __name__ == "__main__":
    asyncio.run(main())
