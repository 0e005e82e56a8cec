"""End to end in Debian's Chromium: daphne serving the app, a real OpenCode server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests import services
from tests.conftest import REPO_DIR

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_DIR / "test-artifacts"
USERNAME = "casey"
PASSWORD = "casey-browser-password"


@pytest.fixture(scope="module")
def live_app(opencode_server, tmp_path_factory):
    """Serve the app with daphne in its own process, database and var directory."""
    var_dir = tmp_path_factory.mktemp("ui-var")
    environment = services.app_environment(opencode_server, var_dir, PASSWORD)
    services.prepare_database(environment, USERNAME)
    app = services.start_daphne(environment, var_dir / "daphne.log", REPO_DIR)
    try:
        yield app.url
    finally:
        app.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: bin/test installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_app) -> Page:
    context = browser.new_context(
        base_url=live_app, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def log_in(page: Page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Start a session")).to_be_visible()


def test_start_watch_and_answer(page: Page):
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))
    console_errors = []
    page.on(
        "console",
        lambda message: (
            console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    log_in(page)
    page.get_by_label("Prompt").fill("Please think aloud [[slow]]")
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(re.compile(r"/sessions/ses_\w+/$"))

    # A marker on window survives only if the page is never reloaded.
    page.evaluate("window.notReloaded = true")
    # Words show while they stream, before the reply is complete. The words sent
    # before the page's watcher started reading events show only once it ends.
    expect(page.locator("#transcript [data-streaming]")).to_contain_text("word15")
    expect(page.locator("#transcript")).to_contain_text("word29", timeout=30_000)
    expect(page.locator("#transcript [data-streaming]")).to_have_count(0)
    expect(page.locator("#session-status .status")).to_have_text("Idle")
    assert page.evaluate("window.notReloaded") is True

    composer = page.get_by_label("Message the agent")
    composer.fill("Ask me something [[ask-single]]")
    composer.press("Control+Enter")
    question = page.locator("section.question").first
    expect(question).to_contain_text("Which colour should the button be?")
    expect(composer).to_have_value("")
    expect(page.locator("#session-status .status")).to_have_text(
        "Waiting for an answer"
    )

    question.get_by_label("Blue").check()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "session-question.png"), full_page=True)
    question.get_by_role("button", name="Send answer").click()

    expect(page.locator("#transcript")).to_contain_text(
        '"Which colour should the button be?"="Blue"'
    )
    expect(page.get_by_text("Tool result received")).to_be_visible()
    expect(page.locator("#questions section.question")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(ARTIFACTS / "session-answered.png"), full_page=True)
    open_sockets = [socket for socket in sockets if not socket.is_closed()]
    assert len(open_sockets) == 1, "swapping fragments must not open more sockets"
    assert not [text for text in console_errors if "Content Security Policy" in text]


def test_answer_from_inbox(page: Page):
    log_in(page)
    page.get_by_label("Prompt").fill("Checks please [[ask-multi]]")
    page.get_by_role("button", name="Start session").click()
    expect(page.locator("#questions section.question")).to_have_count(1)
    session_url = page.url
    session_id = session_url.rstrip("/").rsplit("/", 1)[1]

    page.goto("/inbox/")
    # Other tests may leave questions pending on the same server: pick this one.
    card = page.locator(f"section.question:has(form[action*='{session_id}'])")
    expect(card).to_have_count(1)
    expect(page.locator("#inbox-badge .badge-count")).not_to_have_text("")
    expect(page).to_have_title(re.compile(r"^\(\d+\) Inbox"))
    card.get_by_label("Lint").check()
    card.get_by_label("Tests").check()
    card.get_by_label("Your own answer").fill("release/2.0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)
    card.get_by_role("button", name="Send answer").click()

    expect(page.get_by_text("Answer sent.")).to_be_visible()
    page.goto(session_url)
    expect(page.get_by_text("Tool result received")).to_be_visible()
    expect(page.locator("#transcript")).to_contain_text(
        '"Which branch name?"="release/2.0"'
    )
    expect(page.locator("#transcript")).to_contain_text("answered by casey")


def test_provider_search_and_model_switch(page: Page):
    log_in(page)
    page.get_by_role("link", name="Providers").click()
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Search providers").fill("groq")
    expect(page.locator("#integration-results")).to_contain_text("1 of ")
    expect(page.locator("#integration-results")).not_to_contain_text("OpenAI")
    expect(page).to_have_url(re.compile(r"/providers/\?q=groq"))
    assert page.evaluate("window.notReloaded") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "providers-search.png"), full_page=True)

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_label("Prompt").fill("hello from the browser")
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(re.compile(r"/sessions/ses_\w+/$"))
    page.evaluate("window.notReloaded = true")
    choice = page.locator("#session-choice")
    choice.get_by_label("Model").select_option("scripted/second")
    choice.get_by_label("Agent").select_option("plan")
    choice.get_by_role("button", name="Switch").click()

    expect(page.locator("#session-choice")).to_contain_text("Model: scripted/second")
    expect(page.locator("#transcript")).to_contain_text("Switched to agent plan")
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(ARTIFACTS / "session-switched.png"), full_page=True)


def test_pushed_card_keeps_choices(page: Page):
    log_in(page)
    page.get_by_label("Prompt").fill("Choose [[ask-multi]]")
    page.get_by_role("button", name="Start session").click()
    card = page.locator("#questions section.question")
    expect(card).to_have_count(1)
    card.get_by_label("Lint").check()
    card.get_by_label("Your own answer").fill("half-typed")

    # A claim makes the server push a fresh copy of the card to every viewer.
    claim_url = card.locator("div.claim form").get_attribute("action")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    page.request.post(claim_url, headers={"X-CSRFToken": token, "Referer": page.url})

    expect(card).to_contain_text("casey is on it")
    expect(card.get_by_label("Lint")).to_be_checked()
    expect(card.get_by_label("Your own answer")).to_have_value("half-typed")


def fulfil_prompts(page: Page, status: int, headers: dict, body: str) -> None:
    """Answer every prompt post of PAGE with this response instead of the app."""
    page.route(
        "**/prompt/",
        lambda route: route.fulfill(
            status=status, headers=headers, content_type="text/html", body=body
        ),
    )


def test_unavailable_store_shown_above_form(page: Page):
    log_in(page)
    page.get_by_label("Prompt").fill("hello before the outage")
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(re.compile(r"/sessions/ses_\w+/$"))

    # The reply a daphne process gives while its Redis is down.
    fulfil_prompts(
        page,
        503,
        {"HX-Retarget": "#page-notice", "HX-Reswap": "innerHTML", "OpenCode-UI": "1"},
        '<p class="notice-error">The dashboard cannot reach Redis.</p>',
    )
    composer = page.get_by_label("Message the agent")
    composer.fill("typed during the outage")
    composer.press("Control+Enter")

    expect(page.locator("#page-notice")).to_contain_text("cannot reach Redis")
    expect(composer).to_have_value("typed during the outage")


def test_proxy_error_page_keeps_form(page: Page):
    log_in(page)
    page.get_by_label("Prompt").fill("hello before the proxy fails")
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(re.compile(r"/sessions/ses_\w+/$"))

    # What nginx returns when no daphne process responds.
    fulfil_prompts(page, 502, {}, "<html><h1>502 Bad Gateway</h1></html>")
    composer = page.get_by_label("Message the agent")
    composer.fill("typed while the app is down")
    composer.press("Control+Enter")

    expect(page.locator("#page-notice")).to_contain_text("did not answer (HTTP 502)")
    expect(composer).to_have_value("typed while the app is down")
    expect(page.get_by_text("502 Bad Gateway")).to_have_count(0)
