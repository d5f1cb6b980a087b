"""Server identities: one live process per SQLite file, one per data directory, an executor id that survives
restarts, and a lock the kernel drops when its process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from obelisk.executor.identity import (
    DatabaseInUse,
    DataDirectoryInUse,
    claim_data_directory,
    claim_database,
)


def test_a_data_directory_is_held_by_one_process_and_keeps_its_executor_id(tmp_path: Path) -> None:
    directory = tmp_path / "server-a"
    first = claim_data_directory(directory)
    executor_id = first.executor_id()
    assert (directory / "obelisk-server.executor-id").read_text().strip() == str(executor_id)
    assert (directory / "obelisk-server.lock").read_text() == f"{os.getpid()}\n"

    with pytest.raises(DataDirectoryInUse) as refused:
        claim_data_directory(directory)
    assert refused.value.holder_pid == os.getpid()
    assert f"data directory {directory} is in use by another Obelisk server (PID {os.getpid()})" in str(refused.value)
    assert "its own data_directory" in str(refused.value)

    first.release()
    again = claim_data_directory(directory)
    try:
        assert again.executor_id() == executor_id  # a restart is the same server: it releases its own locks
    finally:
        again.release()


def test_two_data_directories_are_two_servers(tmp_path: Path) -> None:
    a, b = claim_data_directory(tmp_path / "a"), claim_data_directory(tmp_path / "b")
    try:
        assert a.executor_id() != b.executor_id()
    finally:
        a.release()
        b.release()


def test_the_sqlite_claim_and_a_data_directory_claim_are_apart(tmp_path: Path) -> None:
    """A data directory may hold the default SQLite file too: the two identities use different files."""
    database = claim_database(tmp_path / "obelisk.sqlite")
    directory = claim_data_directory(tmp_path)
    try:
        assert database.executor_id() != directory.executor_id()
        with pytest.raises(DatabaseInUse, match=r"in use by another Obelisk server \(PID \d+\)"):
            claim_database(tmp_path / "obelisk.sqlite")
    finally:
        database.release()
        directory.release()


def test_a_killed_holder_leaves_the_directory_free_at_once(tmp_path: Path) -> None:
    directory = tmp_path / "server"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from obelisk.executor.identity import claim_data_directory\n"
            "claim_data_directory(Path(sys.argv[1]))\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(DataDirectoryInUse) as refused:
            claim_data_directory(directory)
        assert refused.value.holder_pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    claim = claim_data_directory(directory)  # no stale lock to clean up: the kernel dropped it with the process
    claim.release()
