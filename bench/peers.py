"""Peer systems measured in the same invocation as our workloads (``bench/run.py --peers DIR``).

This machine's speed moves by a factor of two within an hour, so a ratio to a peer means something only when both
were measured minutes apart. ``DIR`` holds the peers' drivers (given on the command line: the project ships
none of them) and the peers are installed under ``--peers-root`` by that directory's ``setup.sh``:

- ``dbos_w1.py N REPS`` (DBOS Transact on SQLite, W1 only) prints the median seconds of ``REPS`` W1 runs on its
  last line;
- ``dbos_bench.py drive`` and ``restate_bench.py`` run their whole suite (``BENCH_REPS`` repetitions) and write
  ``dbos.json`` / ``restate.json`` into ``PEERS_RESULTS``, whose ``w1_s`` and ``w2_wf_per_s`` medians are read.

Each driver runs in a session of its own under a timeout (its whole process group is stopped when it expires);
one that is missing, fails or times out is reported, and the others still count.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path(os.environ.get("PEERS_ROOT", "/tmp/peers"))
"""Where the drivers' ``setup.sh`` installs the peers (its own default, or ``PEERS_ROOT``)."""
W1_STEPS = 500
RATIO_TARGETS = {("W1-engine", "DBOS"): "target <= 0.25", ("W2", "Restate"): "target >= 1.1"}
"""The ratios the hot-path work aims at, printed beside the measured ones."""
TIMEOUT_SECONDS = {"dbos_w1": 180.0, "dbos": 420.0, "restate": 420.0}


@dataclass
class PeerFigures:
    """Medians measured in this invocation (seconds for W1, workflows/s for W2), and what went wrong."""

    w1_seconds: dict[str, float] = field(default_factory=dict)
    w2_per_second: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


async def _run_driver(
    name: str, argv: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> tuple[int | None, str, str]:
    """(exit code or None on timeout, stdout, the tail of stderr); the driver runs in a session of its own."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                break
            try:
                await asyncio.wait_for(process.wait(), 15)
                break
            except TimeoutError:
                continue
        return None, "", f"{name}: no result within {timeout:.0f} s (stopped)"
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")[-800:]


def _python(root: Path, venv: str) -> Path:
    return root / venv / "bin" / "python"


async def measure(directory: Path, root: Path, reps: int) -> PeerFigures:
    """DBOS's W1 (``dbos_w1.py``), then DBOS's and Restate's suites (W1, W2), each with ``reps`` repetitions."""
    figures = PeerFigures()
    env = dict(os.environ, PEERS_ROOT=str(root), BENCH_REPS=str(reps))
    with tempfile.TemporaryDirectory(prefix="obelisk-bench-peers-") as results:
        env["PEERS_RESULTS"] = results
        plan = [
            ("DBOS W1", "dbos_w1", "dbos-venv", ["dbos_w1.py", str(W1_STEPS), str(reps)], None),
            ("DBOS suite", "dbos", "dbos-venv", ["dbos_bench.py", "drive"], "dbos.json"),
            ("Restate suite", "restate", "restate-venv", ["restate_bench.py"], "restate.json"),
        ]
        for label, key, venv, args, result_file in plan:
            python = _python(root, venv)
            script = directory / args[0]
            if not script.is_file():
                figures.problems.append(f"{label}: no driver {script}")
                continue
            if not python.is_file():
                figures.problems.append(f"{label}: {python} missing (run {directory / 'setup.sh'} first)")
                continue
            print(f"  peers: running {label} ...", flush=True)
            code, out, err = await _run_driver(
                label, [str(python), str(script), *args[1:]], env, directory, TIMEOUT_SECONDS[key]
            )
            if code != 0:
                figures.problems.append(f"{label}: failed (exit {code}): {err.strip()[-400:]}")
                continue
            try:
                if result_file is None:
                    figures.w1_seconds["DBOS"] = float(out.strip().splitlines()[-1])
                    figures.log.append(f"{label}: median of {reps} x W1 = {figures.w1_seconds['DBOS']:.3f} s")
                    continue
                document = json.loads((Path(results) / result_file).read_text())
                peer = "Restate" if key == "restate" else "DBOS"
                w1 = document["w1_s"]
                w2 = document["w2_wf_per_s"]
                if peer == "Restate" or "DBOS" not in figures.w1_seconds:
                    figures.w1_seconds[peer] = float(w1["median"])
                figures.w2_per_second[peer] = float(w2["median"])
                figures.log.append(
                    f"{label}: W1 {w1['median']:.3f} s ({w1['min']:.3f}-{w1['max']:.3f}),"
                    f" W2 {w2['median']:.1f} wf/s ({w2['min']:.1f}-{w2['max']:.1f}), {w1['n']} repetitions"
                )
            except (OSError, ValueError, KeyError, IndexError) as error:
                figures.problems.append(f"{label}: no figures in its output ({error!r}): {out.strip()[-300:]}")
    return figures


def ratio_lines(ours: dict[str, list[float]], figures: PeerFigures) -> list[str]:
    """``ours`` maps "W1", "W1-engine" (seconds per W1 run) and "W2" (workflows/s) to our runs of this invocation."""
    lines: list[str] = []
    for workload in ("W1", "W1-engine"):
        if workload not in ours or not ours[workload]:
            continue
        median = statistics.median(ours[workload])
        for peer, seconds in figures.w1_seconds.items():
            target = RATIO_TARGETS.get((workload, peer), "lower is better")
            lines.append(
                f"{workload} / {peer} W1: {median / seconds:.2f} ({median:.3f} s vs {seconds:.3f} s; {target})"
            )
    if ours.get("W2"):
        median = statistics.median(ours["W2"])
        for peer, rate in figures.w2_per_second.items():
            target = RATIO_TARGETS.get(("W2", peer), "higher is better")
            lines.append(f"W2 / {peer} W2: {median / rate:.2f} ({median:.1f} vs {rate:.1f} wf/s; {target})")
    return lines
