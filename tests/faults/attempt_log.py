"""``python -m tests.faults.attempt_log server run -c CONFIG``: the ``obelisk`` command, with every activity
attempt's start written to the file named by ``OBELISK_TEST_ATTEMPT_LOG`` (the execution id, one a line).

A test counts from it how many times each activity ran, including runs whose results a ``kill -9`` lost and that
left no trace in the database. Each line is one ``write`` on an ``O_APPEND`` descriptor: it is in the kernel
when the attempt starts, so killing the process loses none. Installed from outside the engine, as
``bench.counted_server`` installs its counters.
"""

from __future__ import annotations

import os
from typing import Any

ATTEMPT_LOG_ENV = "OBELISK_TEST_ATTEMPT_LOG"


def install(path: str) -> None:
    from obelisk.workers.activity import ActivityWorker

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    run = ActivityWorker.run

    def logged_run(self: ActivityWorker, locked: Any, deadline: Any) -> Any:
        os.write(fd, f"{locked.execution_id}\n".encode())
        return run(self, locked, deadline)

    ActivityWorker.run = logged_run  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ[ATTEMPT_LOG_ENV])
    from obelisk.cli.entry import main

    main()
