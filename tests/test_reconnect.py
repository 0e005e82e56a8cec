"""A browser page survives a daphne restart: it reconnects and catches up."""

from __future__ import annotations

import re
import signal

import pytest
from playwright.sync_api import Page, expect

from tests import services
from tests.conftest import REPO_DIR, wait_for
from tests.test_browser import PASSWORD, USERNAME, browser, log_in  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def restartable_app(opencode_server, tmp_path):
    environment = services.app_environment(opencode_server, tmp_path / "var", PASSWORD)
    services.prepare_database(environment, USERNAME)
    log = tmp_path / "daphne.log"
    running = [services.start_daphne(environment, log, REPO_DIR)]

    def restart() -> None:
        port = int(running[0].url.rsplit(":", 1)[1])
        running[0].process.send_signal(signal.SIGKILL)
        running[0].process.wait()
        running[0] = services.start_daphne(environment, log, REPO_DIR, port=port)

    yield running[0].url, restart
    running[0].process.kill()
    running[0].process.wait()


def test_page_catches_up_after_daphne_restart(browser, restartable_app, api):  # noqa: F811
    url, restart = restartable_app
    context = browser.new_context(base_url=url)
    page: Page = context.new_page()
    page.set_default_timeout(30_000)
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))

    log_in(page)
    page.get_by_label("Prompt").fill("before the restart")
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(re.compile(r"/sessions/ses_\w+/$"))
    session_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("#transcript")).to_contain_text("Scripted reply to: before")
    page.evaluate("window.notReloaded = true")

    restart()
    # Sent while the page's socket is down: only the reconnect can bring it.
    api.send_prompt(session_id, "during the outage")

    expect(page.locator("#transcript")).to_contain_text(
        "Scripted reply to: during the outage", timeout=60_000
    )
    assert page.evaluate("window.notReloaded") is True
    wait_for(lambda: len(sockets) >= 2)
    open_sockets = [socket for socket in sockets if not socket.is_closed()]
    assert len(open_sockets) == 1
    context.close()
