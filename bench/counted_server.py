"""``python -m bench.counted_server server run -c CONFIG``: the ``obelisk`` command with counters of the work it
does, for the counted figures of ``bench/counts.py``.

The counters are installed from outside the engine, before it is imported, so the engine's hot path carries no
counting code and a server started the usual way pays nothing. What is counted, in this process only:

- SQL statements as the database runs them: SQLite's trace callback (``set_trace_callback`` on every connection
  ``sqlite3.connect`` opens), and on PostgreSQL every statement psycopg's cursors send (``Cursor.execute``,
  one per parameter set of ``executemany``). Transaction control (BEGIN, COMMIT, SAVEPOINT, ...) is a statement
  too and is also counted on its own.
- Commits that wrote (each one an fsync with SQLite's ``synchronous = FULL`` and PostgreSQL's ``fsync`` on): on
  SQLite a COMMIT whose transaction changed rows (``total_changes``) or a write outside any transaction; on
  PostgreSQL a COMMIT after an INSERT, UPDATE or DELETE in the same transaction. Commits of read transactions
  are counted apart.
- Hand-offs between threads: ``loop.call_soon_threadsafe`` (another thread hands work or a result to the event
  loop: an event-loop hop), puts on ``queue.SimpleQueue``/``queue.Queue`` (work handed to a worker thread:
  aiosqlite's, the thread pools'), and completions of ``concurrent.futures.Future`` (a result handed to a thread
  that may be waiting on it).

Time-driven work is not per-step work and would land in a counting window by chance: this server does not start
the timers watcher (its 0.1 s poll for expired delays and locks, which a healthy W1 never has), and the harness
gives its executors a long ``tick_sleep`` so that they wake on notifications only.

The counts are written as JSON to the file named by ``OBELISK_BENCH_COUNTS`` on ``SIGUSR1`` and at exit; the file
is replaced atomically and carries a sequence number, so a reader knows when its request was answered.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.events
import atexit
import concurrent.futures
import json
import os
import queue
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

COUNTS_ENV = "OBELISK_BENCH_COUNTS"

TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})


class Counters:
    """Named counts, safe to bump from any thread (a lock: ``d[k] += 1`` can lose updates between threads).

    Re-entrant: the SIGUSR1 handler runs on the main thread, possibly in the middle of an ``add`` there."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._values: dict[str, int] = {}
        self._dumps = 0

    def add(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def dump(self, path: Path) -> None:
        with self._lock:
            self._dumps += 1
            document = {"sequence": self._dumps, "counts": dict(self._values)}
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(document))
        partial.replace(path)


def _first_word(sql: str | bytes) -> str:
    text = sql.decode(errors="replace") if isinstance(sql, bytes) else sql
    stripped = text.lstrip()
    if stripped.startswith("--"):
        return "--"
    return stripped.split(None, 1)[0].upper() if stripped else ""


def _count_statement(counters: Counters, word: str) -> None:
    counters.add("sql")
    if word in TRANSACTION_CONTROL:
        counters.add("sql_transaction_control")
    else:
        counters.add(f"sql_{word.lower()}" if word in WRITES or word == "SELECT" else "sql_other")


def _install_sqlite(counters: Counters) -> None:
    connect = sqlite3.connect

    def counted_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(*args, **kwargs)
        changes_at_begin = [0]

        def trace(sql: str) -> None:
            word = _first_word(sql)
            if word == "--":  # a statement of a trigger, run by SQLite inside the statement that fired it
                counters.add("sql_trigger")
                return
            _count_statement(counters, word)
            if word == "BEGIN":
                changes_at_begin[0] = conn.total_changes
            elif word in ("COMMIT", "END"):
                wrote = conn.total_changes != changes_at_begin[0]
                counters.add("commits_written" if wrote else "commits_read")
            elif word in WRITES and not conn.in_transaction:
                counters.add("commits_written")  # autocommit: the statement is its own transaction

        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = counted_connect  # type: ignore[assignment]


def _install_postgres(counters: Counters) -> None:
    try:
        import psycopg
    except ImportError:
        return
    dirty: dict[int, bool] = {}
    """Per connection (by id): its open transaction has run a write."""

    def note(conn: Any, query: Any, times: int) -> None:
        raw = query if isinstance(query, str | bytes) else query.as_string(conn)
        word = _first_word(raw)
        for _ in range(times):
            _count_statement(counters, word)
        key = id(conn)
        if word == "BEGIN":
            dirty[key] = False
        elif word in ("COMMIT", "END"):
            counters.add("commits_written" if dirty.pop(key, False) else "commits_read")
        elif word in WRITES:
            if key in dirty:
                dirty[key] = True
            else:
                counters.add("commits_written")  # autocommit

    execute = psycopg.Cursor.execute
    executemany = psycopg.Cursor.executemany

    def counted_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        note(self.connection, query, 1)
        return execute(self, query, params, **kwargs)

    def counted_executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        params_seq = list(params_seq)
        note(self.connection, query, len(params_seq))
        return executemany(self, query, params_seq, **kwargs)

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = counted_executemany  # type: ignore[method-assign]


def _install_handoffs(counters: Counters) -> None:
    def counted_call_soon_threadsafe(original: Callable[..., Any]) -> Callable[..., Any]:
        def call_soon_threadsafe(self: Any, callback: Any, *args: Any, context: Any = None) -> Any:
            counters.add("into_loop")
            return original(self, callback, *args, context=context)

        return call_soon_threadsafe

    base = asyncio.base_events.BaseEventLoop
    base.call_soon_threadsafe = counted_call_soon_threadsafe(base.call_soon_threadsafe)  # type: ignore[method-assign,assignment]
    try:
        import uvloop
    except ImportError:
        pass
    else:
        # The server runs on uvloop, whose methods (Cython) cannot be patched: a Python subclass of its loop
        # counts the calls made from Python (the engine's, aiosqlite's, ``run_coroutine_threadsafe``).
        class CountedLoop(uvloop.Loop):
            call_soon_threadsafe = counted_call_soon_threadsafe(uvloop.Loop.call_soon_threadsafe)  # type: ignore[assignment]

        run = uvloop.run

        def counted_run(main: Any, **kwargs: Any) -> Any:
            return run(main, loop_factory=CountedLoop, **kwargs)

        uvloop.run = counted_run

    class CountedSimpleQueue(queue.SimpleQueue):  # type: ignore[type-arg]
        """Replaces ``queue.SimpleQueue`` before aiosqlite and the thread pools take it."""

        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            counters.add("to_threads")
            super().put(item, block, timeout)

        def put_nowait(self, item: Any) -> None:
            counters.add("to_threads")
            super().put_nowait(item)

    queue.SimpleQueue = CountedSimpleQueue  # type: ignore[misc]

    queue_put = queue.Queue.put

    def counted_queue_put(self: Any, item: Any, block: bool = True, timeout: float | None = None) -> None:
        counters.add("to_threads")
        queue_put(self, item, block, timeout)

    queue.Queue.put = counted_queue_put  # type: ignore[method-assign]

    for name in ("set_result", "set_exception"):
        original: Callable[..., None] = getattr(concurrent.futures.Future, name)

        def counted(self: Any, value: Any, _original: Callable[..., None] = original) -> None:
            counters.add("thread_results")
            _original(self, value)

        setattr(concurrent.futures.Future, name, counted)


def _quiet_timers() -> None:
    from obelisk.executor.timers import TimersWatcher

    def start(self: TimersWatcher) -> None:
        del self

    TimersWatcher.start = start  # type: ignore[method-assign]


def install(path: Path) -> Counters:
    """Install every counter in this process; dump to ``path`` on SIGUSR1 and at exit."""
    counters = Counters()
    _install_sqlite(counters)
    _install_postgres(counters)
    _install_handoffs(counters)
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: counters.dump(path))
    atexit.register(counters.dump, path)
    return counters


def main() -> None:
    target = os.environ.get(COUNTS_ENV)
    if not target:
        sys.exit(f"{COUNTS_ENV} must name the file the counts are written to")
    install(Path(target))
    _quiet_timers()
    sys.argv[0] = "obelisk"
    from obelisk.cli.entry import main as obelisk_main

    obelisk_main()


if __name__ == "__main__":
    main()
