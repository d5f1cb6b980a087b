"""Activity exporting `testing:flaky/flaky`: deliberately failing functions for the retry tests."""

import os
import socket
import sys
import time

from componentize_py_types import Err
from wit_world import exports


def _now_millis() -> int:
    return time.time_ns() // 1_000_000


class Flaky(exports.Flaky):
    def trap_before(self, unix_millis: int) -> int:
        now = _now_millis()
        if now < unix_millis:
            raise RuntimeError(f"too early by {unix_millis - now} ms")  # uncaught: the guest traps
        return now

    def err_before(self, unix_millis: int) -> int:
        now = _now_millis()
        if now < unix_millis:
            raise Err("too early")
        return now

    def echo(self, message: str) -> str:
        print(message)
        print(message, file=sys.stderr)
        return message

    def env_var(self, name: str) -> str | None:
        return os.environ.get(name)

    def raise_error(self, message: str) -> int:
        return _fail(message)

    def open_socket(self) -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as opened:
            return repr(opened)


def _fail(message: str) -> int:
    raise ValueError(message)
