"""Activity exporting `testing:sleep/sleep`: blocking sleeps for tests of attempt timeouts.

`time.sleep` blocks inside a WASI poll, which an epoch deadline cannot interrupt; that is exactly the case the
executor's own deadline has to handle, so these functions must not be rewritten as busy loops.
"""

import time

from wit_world import exports
from wit_world.imports.time import (
    Duration,
    Duration_Days,
    Duration_Hours,
    Duration_Milliseconds,
    Duration_Minutes,
    Duration_Seconds,
)


def _seconds(duration: Duration) -> float:
    if isinstance(duration, Duration_Milliseconds):
        return duration.value / 1000
    if isinstance(duration, Duration_Seconds):
        return float(duration.value)
    if isinstance(duration, Duration_Minutes):
        return duration.value * 60.0
    if isinstance(duration, Duration_Hours):
        return duration.value * 3600.0
    if isinstance(duration, Duration_Days):
        return duration.value * 86400.0
    raise TypeError(f"unknown duration case {duration!r}")


class Sleep(exports.Sleep):
    def sleep(self, duration: Duration) -> None:
        time.sleep(_seconds(duration))

    def sleep_loop(self, duration: Duration, iterations: int) -> None:
        seconds = _seconds(duration)
        for _ in range(iterations):
            time.sleep(seconds)
