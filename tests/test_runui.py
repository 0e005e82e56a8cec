"""`manage.py runui` with no OPENCODE_URL: its own OpenCode server, a first admin."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tests.conftest import REPO_DIR, wait_for

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _csrf_token(response: httpx.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)[1]


def test_runui_starts_everything(opencode_server, tmp_path):
    var_dir = tmp_path / "var"
    workspace = opencode_server.workspaces[1]
    port = _free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OPENCODE")
    }
    environment.update(
        {
            # The scripted model's config lives in this HOME.
            "HOME": str(opencode_server.home),
            "OPENCODE_UI_VAR_DIR": str(var_dir),
            "OPENCODE_WORKSPACES": workspace,
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runui", "--port", str(port)],
        cwd=REPO_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _listening(port), timeout=60)
        password_file = var_dir / "first-admin-password.txt"
        password = password_file.read_text().strip()
        assert password_file.stat().st_mode & 0o077 == 0, "only the owner may read it"

        # The first dashboard waits for a cold OpenCode server (location and model
        # list). That took 2 to 6 s on 2 cores at a load average of 8, and httpx
        # gives up after 5 s by default.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as browser:
            login = browser.get("/accounts/login/")
            browser.post(
                "/accounts/login/",
                data={
                    "username": "admin",
                    "password": password,
                    "csrfmiddlewaretoken": _csrf_token(login),
                },
            )
            dashboard = browser.get("/")
            assert dashboard.status_code == 200
            assert f'value="{workspace}"' in dashboard.text

            created = browser.post(
                "/sessions/new/",
                data={
                    "workspace": workspace,
                    "prompt": "hello managed server",
                    "csrfmiddlewaretoken": _csrf_token(dashboard),
                },
            )
            assert created.status_code == 302
            session_url = created.headers["Location"]
            wait_for(
                lambda: (
                    "Scripted reply to: hello managed server"
                    in browser.get(session_url).text
                )
            )
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)

    assert "Log in as 'admin'" in output
    assert password not in output, "the password stays in its file"
    opencode_port = int(
        re.search(r"OpenCode server on http://127.0.0.1:(\d+)", output)[1]
    )
    assert not _listening(opencode_port), (
        "the managed OpenCode server stops with the app"
    )
