"""Fixtures: the scripted model, a real `opencode serve` using it, and test users."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sessions import opencode
from sessions.managed_server import ManagedOpenCode
from tests import fake_model

REPO_DIR = Path(__file__).resolve().parent.parent
OPENCODE_BIN = REPO_DIR / "node_modules" / ".bin" / "opencode"
PASSWORD = "test-server-password"
ENV_SAMPLE_KEY = "env-sample-key-not-real"


@dataclass
class OpenCodeServer:
    url: str
    password: str
    workspaces: list[str]
    home: Path
    process: ManagedOpenCode

    def client(self) -> opencode.OpenCodeClient:
        return opencode.OpenCodeClient(self.url, "opencode", self.password)


@pytest.fixture(scope="session")
def scripted_model():
    server = fake_model.start()
    yield server
    server.shutdown()


def _write_config(home: Path, model_port: int) -> None:
    config_dir = home / ".config" / "opencode"
    config_dir.mkdir(parents=True)
    config = {
        "$schema": "https://opencode.ai/config.json",
        "model": "scripted/scripted",
        "autoupdate": False,
        "share": "disabled",
        "permission": {"edit": "ask"},
        "provider": {
            "scripted": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Scripted",
                "options": {
                    "baseURL": f"http://127.0.0.1:{model_port}/v1",
                    "apiKey": "none",
                },
                "models": {
                    "scripted": {"name": "Scripted"},
                    "second": {"name": "Scripted Second"},
                },
            }
        },
    }
    (config_dir / "opencode.json").write_text(json.dumps(config))


def _make_workspace(path: Path) -> str:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return str(path)


@pytest.fixture(scope="session")
def opencode_server(scripted_model, tmp_path_factory) -> Iterator[OpenCodeServer]:
    if not OPENCODE_BIN.exists():
        pytest.fail(f"{OPENCODE_BIN} is missing: run `npm ci` (bin/test does)")
    root = tmp_path_factory.mktemp("opencode")
    home = root / "home"
    _write_config(home, scripted_model.server_address[1])
    workspaces = [
        _make_workspace(root / "alpha"),
        _make_workspace(root / "beta"),
    ]
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        # Connects one integration through the environment, as a deployment would.
        "DEEPSEEK_API_KEY": ENV_SAMPLE_KEY,
    }
    server = ManagedOpenCode(
        OPENCODE_BIN,
        Path(workspaces[0]),
        password=PASSWORD,
        environment=environment,
        log_path=root / "opencode.log",
        extra_arguments=("--pure",),
    )
    server.start()
    yield OpenCodeServer(server.url, PASSWORD, workspaces, home, server)
    server.stop()


@pytest.fixture
def opencode_settings(opencode_server, settings):
    """Point the app at the real OpenCode server for one test."""
    settings.OPENCODE_URL = opencode_server.url
    settings.OPENCODE_SERVER_PASSWORD = opencode_server.password
    settings.OPENCODE_WORKSPACES = opencode_server.workspaces
    settings.OPENCODE_POLL_ACTIVE = 0.2
    settings.OPENCODE_POLL_IDLE_MAX = 1.0
    return settings


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("dana", password="dana-password-1")


@pytest.fixture
def teammate(django_user_model):
    return django_user_model.objects.create_user("lee", password="lee-password-1")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "sam", password="sam-password-1", is_staff=True
    )


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def wait_for(
    condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.2
):
    """Poll CONDITION until it returns something truthy; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition still false after {timeout} s (last: {last!r})")


@pytest.fixture
def api(opencode_server) -> Iterator[opencode.OpenCodeClient]:
    client = opencode_server.client()
    yield client
    client.close()
