"""``python -m tests.faults.deadly_attempt server run -c CONFIG``: the ``obelisk`` command, with every attempt of the
activity function named by ``OBELISK_TEST_DEADLY_FFQN`` killing its own process (``SIGKILL``) as it starts.

It stands for an attempt that takes the server down (a runtime bug, memory exhaustion): the restart finds the
execution still running under the dead process, every time. Installed from outside the engine, as
``tests.faults.attempt_log`` installs its log.
"""

from __future__ import annotations

import os
import signal
from typing import Any

DEADLY_FFQN_ENV = "OBELISK_TEST_DEADLY_FFQN"


def install(ffqn: str) -> None:
    from obelisk.workers.activity import ActivityWorker

    run = ActivityWorker.run

    def deadly_run(self: ActivityWorker, locked: Any, deadline: Any) -> Any:
        if str(locked.ffqn) == ffqn:
            os.kill(os.getpid(), signal.SIGKILL)
        return run(self, locked, deadline)

    ActivityWorker.run = deadly_run  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ[DEADLY_FFQN_ENV])
    from obelisk.cli.entry import main

    main()
