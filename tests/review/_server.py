"""Start ``unskew review serve`` in a subprocess on a free loopback port (used by the browser,
crash and load tests and the screenshot script)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A review server process; ``url`` is its base URL. ``kill()`` sends SIGKILL."""

    def __init__(self, store_url: str, *, port: int | None = None, models: str | None = None, log: Path | None = None):
        self.store_url, self.port, self.models = store_url, port or free_port(), models
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = None

    def start(self, timeout: float = 60.0) -> Server:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, "-m", "unskew", "review", "serve", "--store", self.store_url,
               "--host", "127.0.0.1", "--port", str(self.port)]
        if self.models:
            cmd += ["--models", self.models]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"review server exited with {self.proc.returncode}"
                                   + (f"; log: {self.log.read_text()[-2000:]}" if self.log else ""))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("review server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
