"""A supervised `opencode serve` on loopback, for installs that set no OPENCODE_URL."""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx

logger = logging.getLogger(__name__)

# Seconds to wait for a fresh server to respond to /api/health.
START_TIMEOUT = 60.0
# Pause (seconds) before restarting a server that exited, doubled per quick exit.
RESTART_DELAY_MIN = 1.0
RESTART_DELAY_MAX = 30.0


def die_with_parent() -> None:
    """Ask Linux to stop this child process when its parent dies (PR_SET_PDEATHSIG).

    Runs in the child between fork and exec. Elsewhere it does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ManagedOpenCode:
    """Start `opencode serve` with a generated password and restart it when it exits."""

    def __init__(
        self,
        binary: Path,
        directory: Path,
        *,
        port: int = 0,
        username: str = "opencode",
        password: str = "",
        environment: dict[str, str] | None = None,
        log_path: Path | None = None,
        extra_arguments: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.username = username
        self.password = password or secrets.token_urlsafe(24)
        self.environment = environment
        self.log_path = log_path
        self.extra_arguments = extra_arguments
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen:
        environment = dict(
            self.environment if self.environment is not None else os.environ
        )
        environment.update(
            {
                "OPENCODE_SERVER_USERNAME": self.username,
                "OPENCODE_SERVER_PASSWORD": self.password,
                "OPENCODE_DISABLE_AUTOUPDATE": "1",
            }
        )
        command = [
            str(self.binary), "serve",
            "--hostname", "127.0.0.1", "--port", str(self.port),
            *self.extra_arguments,
        ]  # fmt: skip
        logger.info("Starting OpenCode server on %s in %s", self.url, self.directory)
        log_path = self.log_path or os.devnull
        # The child keeps its own copy of the log descriptor; ours closes here.
        with open(log_path, "ab") as output:
            return subprocess.Popen(
                command,
                cwd=self.directory,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        auth = httpx.BasicAuth(self.username, self.password)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"OpenCode server exited with code {self.process.returncode} "
                    f"while starting; see {self.log_path or 'its output'}"
                )
            try:
                response = httpx.get(f"{self.url}/api/health", auth=auth, timeout=2)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"OpenCode server on {self.url} did not start in {timeout:.0f} s"
        )

    def start(self) -> None:
        self.process = self._spawn()
        self.wait_until_healthy()
        logger.info("OpenCode server is ready on %s", self.url)
        self._supervisor = threading.Thread(
            target=self._supervise, name="opencode-supervisor", daemon=True
        )
        self._supervisor.start()

    def _supervise(self) -> None:
        delay = RESTART_DELAY_MIN
        while not self._stopping.is_set():
            assert self.process is not None
            started = time.monotonic()
            code = self.process.wait()
            if self._stopping.is_set():
                return
            # A server that ran for a while gets a quick restart. One that keeps
            # dying at once backs off, so a broken install does not spin.
            if time.monotonic() - started > 60:
                delay = RESTART_DELAY_MIN
            logger.warning(
                "OpenCode server exited with code %s; restarting in %.0f s", code, delay
            )
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, RESTART_DELAY_MAX)
            self.process = self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        logger.info("Stopping OpenCode server on %s", self.url)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
