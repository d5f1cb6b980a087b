"""A real ``obelisk server run`` subprocess, for tests that kill, restart and drive it from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class ServerProcess:
    def __init__(self, config_path: Path, *, module: str = "obelisk", env: dict[str, str] | None = None) -> None:
        """``module``: what ``python -m`` runs (a test's wrapper of the ``obelisk`` command); ``env``: added."""
        self.config_path = config_path
        self.module = module
        self.extra_env = env or {}
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._ready = threading.Event()

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = dict(os.environ, HOME=str(self.config_path.parent), PYTHONUNBUFFERED="1", **self.extra_env)
        self._ready.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "server", "run", "-c", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.kill()
            raise AssertionError("server did not become ready:\n" + "".join(self.output))
        return self

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            if line.startswith("Server is ready"):
                self._ready.set()

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.output):
                return
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in server output:\n" + "".join(self.output))
