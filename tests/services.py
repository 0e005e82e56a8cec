"""Throwaway PostgreSQL, Redis and daphne processes on 127.0.0.1.

Both come from Debian's packages (`postgresql`, `redis-server`; bin/setup --test
installs them) and keep all their files in a temporary directory. Tests and the
benchmark use them to run the app as a team would. PostgreSQL
refuses to run as root, so under root its commands run as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis

from sessions.managed_server import free_port

START_TIMEOUT = 30.0


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
        None,
    )
    if found is None:
        raise RuntimeError(f"{name} is missing: bin/setup --test installs postgresql")
    return found


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    directory: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _wait(ready, process: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start in {START_TIMEOUT} s")


def start_postgres(database: str = "opencode_ui") -> Service:
    """Initialise a cluster in a new temporary directory and start it."""
    directory = Path(tempfile.mkdtemp(prefix="opencode-ui-postgres-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(directory, account.pw_uid, account.pw_gid)
    data = directory / "data"
    log = directory / "postgres.log"
    subprocess.run(
        _as_postgres_user(
            [_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            _as_postgres_user(
                [
                    _postgres_bin("postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(directory),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ]  # fmt: skip
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def accepts_connections() -> bool:
        try:
            with psycopg.connect(admin_url, connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    _wait(accepts_connections, process, "postgres", log)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return Service(
        f"postgresql://postgres@127.0.0.1:{port}/{database}", process, directory
    )


def start_redis(port: int = 0) -> Service:
    """Start an empty Redis that saves nothing, on PORT (0 picks a free one)."""
    directory = Path(tempfile.mkdtemp(prefix="opencode-ui-redis-"))
    port = port or free_port()
    log = directory / "redis.log"
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise RuntimeError("redis-server is missing: bin/setup --test installs it")
    process = subprocess.Popen(
        [
            redis_server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(log),
        ]  # fmt: skip
    )

    def answers_ping() -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    _wait(answers_ping, process, "redis-server", log)
    return Service(f"redis://127.0.0.1:{port}/0", process, directory)


@dataclass
class Daphne:
    """The app served by one daphne process."""

    url: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def app_environment(opencode_server, var_dir: Path, password: str) -> dict[str, str]:
    """Return the environment of one app process on OPENCODE_SERVER, for tests.

    The app keeps its SQLite database in VAR_DIR. PASSWORD is the superuser's, for
    `prepare_database`.
    """
    return {
        **os.environ,
        "OPENCODE_UI_VAR_DIR": str(var_dir),
        "OPENCODE_URL": opencode_server.url,
        "OPENCODE_SERVER_PASSWORD": opencode_server.password,
        "OPENCODE_WORKSPACES": ",".join(opencode_server.workspaces),
        "OPENCODE_POLL_ACTIVE": "0.2",
        "DJANGO_SUPERUSER_PASSWORD": password,
    }


def prepare_database(environment: dict[str, str], username: str) -> None:
    """Migrate the app's database and create a superuser (password in the environment).

    ENVIRONMENT must set DJANGO_SUPERUSER_PASSWORD and name the database, through
    DATABASE_URL or OPENCODE_UI_VAR_DIR.
    """
    manage = [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=environment, check=True)
    subprocess.run(
        [
            *manage,
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            "",
        ],
        env=environment,
        check=True,
    )


def start_daphne(
    environment: dict[str, str], log: Path, repo_dir: Path, port: int = 0
) -> Daphne:
    """Serve the app from REPO_DIR with daphne on PORT (0 picks a free one)."""
    port = port or free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["opencode_ui.asgi:application"],
            cwd=repo_dir,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def listens() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    _wait(listens, process, "daphne", log)
    return Daphne(f"http://127.0.0.1:{port}", process, log)


def try_log_in(base_url: str, username: str, password: str) -> int:
    """Post the login form as a browser would; return the status code."""
    return _post_login(base_url, username, password)[0]


def log_in(base_url: str, username: str, password: str) -> str:
    """Log in through the login form and return the session cookie's value."""
    status, cookie = _post_login(base_url, username, password)
    if status != 302 or not cookie:
        raise RuntimeError(f"login as {username} failed: {status}")
    return cookie


def _post_login(base_url: str, username: str, password: str) -> tuple[int, str]:
    with httpx.Client(base_url=base_url) as client:
        form = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        if token is None:
            raise RuntimeError("the login page has no CSRF token")
        reply = client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"Referer": f"{base_url}/accounts/login/"},
        )
        return reply.status_code, client.cookies.get("sessionid") or ""


def websocket_options(base_url: str, session_cookie: str) -> dict[str, object]:
    """Return the `websockets` connect options of a logged-in browser on BASE_URL."""
    return {
        "origin": base_url,
        "additional_headers": {"Cookie": f"sessionid={session_cookie}"},
    }


def websocket_url(base_url: str, session_id: str) -> str:
    return base_url.replace("http://", "ws://") + f"/ws/sessions/{session_id}/"
