"""Workflow exporting `testing:checks/workflow`, used by the engine's tests of its own guarantees."""

import os
import random
import time

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host_activities
from wit_world.imports import testing_flaky_flaky as flaky
from wit_world.imports import testing_flaky_obelisk_ext_flaky as flaky_ext
from wit_world.imports import time as wit_time


def _read() -> str:
    return f"{time.time()}|{time.monotonic()}|{random.random()}|{os.urandom(4).hex()}"


class Workflow(exports.Workflow):
    def call_trap(self, unix_millis: int) -> int:
        return flaky.trap_before(unix_millis)

    def await_trap(self, unix_millis: int) -> str:
        join_set = host_activities.new_join_set()
        flaky_ext.trap_before_submit(join_set, unix_millis)
        try:
            execution_id, value = flaky_ext.trap_before_await_next(join_set)
        except Err as error:
            execution_id, execution_error = error.value
            return f"err {execution_id.id} {type(execution_error).__name__} {getattr(execution_error, 'value', '')}"
        return f"ok {execution_id.id} {value}"

    def clock_random(self, sleep_millis: int) -> str:
        before = _read()
        host_activities.sleep(wit_time.Duration_Milliseconds(sleep_millis))
        return f"{before} / {_read()}"

    def await_empty(self) -> int:
        join_set = host_activities.new_join_set()
        _execution_id, value = flaky_ext.trap_before_await_next(join_set)
        return value

    def print_and_sleep(self, sleep_millis: int) -> None:
        print("before the sleep")
        host_activities.sleep(wit_time.Duration_Milliseconds(sleep_millis))
        print("after the sleep")

    def forbidden_sleep(self, millis: int) -> None:
        time.sleep(millis / 1000)

    def endless_loop(self) -> int:
        count = 0
        while True:
            count += 1

    def raise_error(self, message: str) -> int:
        print("about to raise")
        return _fail(message)


def _fail(message: str) -> int:
    raise ValueError(message)
