"""Run the whole app: migrate, make a first admin, start OpenCode if needed, serve."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from opencode_ui.local_secret import read_or_create_secret
from sessions.managed_server import ManagedOpenCode, die_with_parent

logger = logging.getLogger(__name__)

# Seconds to wait before starting daphne again after it died.
DAPHNE_RESTART_DELAY = 1.0

FIRST_ADMIN = "admin"


class Command(BaseCommand):
    help = (
        "Serve OpenCode UI with daphne. Without OPENCODE_URL it also starts and "
        "supervises its own `opencode serve` on 127.0.0.1."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address daphne binds")
        parser.add_argument("--port", type=int, default=8000, help="port daphne binds")

    def handle(self, *args, **options) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_first_admin()

        environment = dict(os.environ)
        environment["OPENCODE_WORKSPACES"] = ",".join(settings.OPENCODE_WORKSPACES)
        managed = None
        if not settings.OPENCODE_URL:
            managed = self._start_opencode()
            environment["OPENCODE_URL"] = managed.url
            environment["OPENCODE_SERVER_USERNAME"] = managed.username
            environment["OPENCODE_SERVER_PASSWORD"] = managed.password
            environment.pop("OPENCODE_SERVER_PASSWORD_FILE", None)

        address = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"OpenCode UI is starting on {address}")
        self.stdout.write(f"Workspaces: {', '.join(settings.OPENCODE_WORKSPACES)}")
        command = [
            sys.executable, "-m", "daphne",
            "-b", options["host"], "-p", str(options["port"]),
            "opencode_ui.asgi:application",
        ]  # fmt: skip
        stopping = threading.Event()
        daphne = _start_child(command, environment)

        def request_stop(*_: object) -> None:
            stopping.set()
            daphne.terminate()

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while True:
                code = daphne.wait()
                if stopping.is_set():
                    break
                # daphne died on its own: serve again instead of taking OpenCode
                # and its running agents down with it.
                logger.error("daphne exited with code %s; restarting it", code)
                time.sleep(DAPHNE_RESTART_DELAY)
                daphne = _start_child(command, environment)
        except KeyboardInterrupt:
            stopping.set()
            daphne.terminate()
            _wait_or_kill(daphne)
        finally:
            if managed is not None:
                managed.stop()

    def _ensure_first_admin(self) -> None:
        users = get_user_model()
        password_file = settings.VAR_DIR / "first-admin-password.txt"
        if not users.objects.exists():
            password = read_or_create_secret(password_file, nbytes=12)
            users.objects.create_superuser(FIRST_ADMIN, "", password)
        if password_file.exists():
            self.stdout.write(
                f"Log in as '{FIRST_ADMIN}' with the password in {password_file} "
                "(change it under /admin/, then delete that file)."
            )

    def _start_opencode(self) -> ManagedOpenCode:
        binary = Path(
            os.environ.get("OPENCODE_BIN")
            or settings.BASE_DIR / "node_modules" / ".bin" / "opencode"
        )
        if not binary.exists():
            raise CommandError(
                f"OpenCode is not installed at {binary}: run `npm ci` in "
                f"{settings.BASE_DIR}, or set OPENCODE_URL to a running server"
            )
        managed = ManagedOpenCode(
            binary,
            Path(settings.OPENCODE_WORKSPACES[0]),
            log_path=settings.VAR_DIR / "opencode.log",
        )
        self.stdout.write("Starting a local OpenCode server…")
        try:
            managed.start()
        except RuntimeError as error:
            managed.stop()
            raise CommandError(str(error)) from error
        self.stdout.write(f"OpenCode server on {managed.url} (log: {managed.log_path})")
        return managed


def _start_child(command: list[str], environment: dict[str, str]) -> subprocess.Popen:
    """Start COMMAND so that it dies with this process, even if this one is killed."""
    return subprocess.Popen(command, env=environment, preexec_fn=die_with_parent)


def _wait_or_kill(process: subprocess.Popen, timeout: float = 15.0) -> int:
    """Wait for PROCESS to exit; kill it after TIMEOUT seconds."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
