"""The page shell in Chromium: layout, composer, follow-scroll, drawer, themes,
keyboard shortcuts, an axe-core accessibility check and screenshots of the pages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import REPO_DIR
from tests.test_browser import browser, live_app, log_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

AXE_SCRIPT = REPO_DIR / "node_modules" / "axe-core" / "axe.min.js"
# The README shows the pictures in docs/screenshots. Test runs save theirs beside the
# other artifacts, and replace those only when OPENCODE_UI_UPDATE_SCREENSHOTS=1.
SCREENSHOTS = (
    REPO_DIR / "docs" / "screenshots"
    if os.environ.get("OPENCODE_UI_UPDATE_SCREENSHOTS") == "1"
    else REPO_DIR / "test-artifacts" / "screenshots"
)
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1440, "height": 900}
WIDE = {"width": 1920, "height": 1080}
SESSION_PATH = re.compile(r"/sessions/ses_\w+/$")
# A prompt whose own message is tall, with a long unbreakable line in a code block.
TALL_PROMPT = "\n\n".join(
    [f"Line of a tall prompt number {number}." for number in range(12)]
    + ["```\n" + "x" * 300 + "\n```", "averyveryverylongwordwithoutanyspaces" * 6]
)


def open_page(
    browser: Browser,  # noqa: F811 (fixture)
    base_url: str,
    viewport: dict[str, int] = DESKTOP,
    color_scheme: str = "light",
    bypass_csp: bool = False,
) -> Page:
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,
        color_scheme=color_scheme,
        bypass_csp=bypass_csp,
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page)
    return page


@pytest.fixture
def desktop(browser, live_app) -> Iterator[Page]:  # noqa: F811 (fixture)
    page = open_page(browser, live_app)
    yield page
    page.context.close()


@pytest.fixture
def phone(browser, live_app) -> Iterator[Page]:  # noqa: F811 (fixture)
    page = open_page(browser, live_app, PHONE)
    yield page
    page.context.close()


def start_session(page: Page, prompt: str) -> str:
    page.goto("/")
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(SESSION_PATH)
    return page.url


def send(page: Page, text: str) -> None:
    composer = page.get_by_label("Message the agent")
    composer.fill(text)
    composer.press("Control+Enter")
    expect(composer).to_have_value("")


@pytest.fixture(scope="module")
def question_session(browser, live_app) -> str:  # noqa: F811 (fixture)
    """A session with one finished exchange and a question still waiting."""
    page = open_page(browser, live_app)
    url = start_session(page, "Plan the colour of the save button")
    expect(page.locator("#session-status .status")).to_have_text("Idle")
    send(page, "Ask me which colour to use [[ask-single]]")
    expect(page.locator("#questions section.question")).to_have_count(1)
    page.context.close()
    return url


def policy_refusals(page: Page) -> list[str]:
    """Collect, from now on, what the Content Security Policy blocks on PAGE."""
    refusals: list[str] = []

    def record(message) -> None:
        if "Content Security Policy" in message.text:
            refusals.append(message.text)

    page.on("console", record)
    return refusals


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core on the page and return its serious and critical violations.

    Playwright inserts axe as an inline script, which the app's Content Security
    Policy blocks, so the page's context must be opened with bypass_csp.
    """
    page.add_script_tag(path=str(AXE_SCRIPT))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


# Boxes that clip or scroll sideways, other than code, diffs, deliberate ellipses
# and text for screen readers only. Content wider than such a box is cut off or
# needs a sideways scroll.
CLIPPED_BOXES = """() => [...document.querySelectorAll("body *")].filter(element => {
  const style = getComputedStyle(element);
  if (style.overflowX === "visible" || style.textOverflow === "ellipsis") return false;
  if (style.clipPath !== "none") return false;  // hidden for screen readers only
  if (element.closest("pre, .diff, .highlight, textarea, dialog")) return false;
  return element.scrollWidth > element.clientWidth + 1;
}).map(element => element.tagName + "." + element.className)"""


def horizontal_overflow(page: Page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth"
        " - document.documentElement.clientWidth"
    )


# The element that scrolls the transcript: its own pane on wide screens, the
# whole page on phones.
TRANSCRIPT_SCROLLER = """(() => {
  const pane = document.getElementById("transcript-pane");
  return getComputedStyle(pane).overflowY === "visible"
    ? document.scrollingElement : pane;
})()"""


def wait_for_transcript_end(page: Page) -> None:
    """Wait until the transcript shows its last pixels."""
    page.wait_for_function(
        f"() => {{ const box = {TRANSCRIPT_SCROLLER};"
        " return box.scrollHeight - box.scrollTop - box.clientHeight < 5; }"
    )


def transcript_scroll_top(page: Page) -> float:
    return page.evaluate(f"() => {TRANSCRIPT_SCROLLER}.scrollTop")


def test_composer_shortcuts(desktop: Page):
    refusals = policy_refusals(desktop)
    start_session(desktop, "Say hello")
    composer = desktop.get_by_label("Message the agent")
    expect(desktop.locator("#session-status .status")).to_have_text("Idle")
    height_before = composer.bounding_box()["height"]

    composer.click()
    composer.press_sequentially("first line")
    composer.press("Enter")
    composer.press_sequentially("second line")
    for number in range(5):
        composer.press("Enter")
        composer.press_sequentially(f"more {number}")
    expect(composer).to_have_value(re.compile(r"^first line\nsecond line\n"))
    assert composer.bounding_box()["height"] > height_before
    # Enter alone sent nothing: the transcript still has its one prompt.
    expect(desktop.locator("#transcript .message-user")).to_have_count(1)

    composer.press("Control+Enter")
    expect(composer).to_have_value("")
    expect(desktop.locator("#transcript .message-user")).to_have_count(2)
    expect(desktop.locator("#transcript")).to_contain_text("more 4")
    expect(composer).to_be_focused()

    composer.press_sequentially("sent with meta")
    composer.press("Meta+Enter")
    expect(desktop.locator("#transcript .message-user")).to_have_count(3)
    assert composer.bounding_box()["height"] <= height_before + 1
    assert refusals == []


def test_working_indicator_counts(desktop: Page):
    start_session(desktop, "Count slowly [[slow]]")
    indicator = desktop.locator("#working-indicator")
    expect(indicator).to_be_visible()
    expect(indicator).to_contain_text(re.compile(r"working for 0:0\d"))
    expect(indicator).to_be_hidden(timeout=30_000)
    expect(desktop.locator("#transcript")).to_contain_text("word29")


@pytest.mark.parametrize(
    "viewport", [{"width": 900, "height": 600}, PHONE], ids=["pane", "phone"]
)
def test_follow_scroll_and_new_messages(browser, live_app, viewport):  # noqa: F811
    page = open_page(browser, live_app, viewport)
    start_session(page, TALL_PROMPT)
    expect(page.locator("#session-status .status")).to_have_text("Idle")
    send(page, TALL_PROMPT)
    expect(page.locator("#transcript .message-assistant")).to_have_count(2)
    jump = page.get_by_role("button", name="New messages")

    # At the end, new content keeps the view at the end.
    wait_for_transcript_end(page)
    expect(jump).to_be_hidden()

    # Scrolled up, the view stays put and the button offers the jump.
    page.evaluate(f"() => {{ {TRANSCRIPT_SCROLLER}.scrollTop = 0; }}")
    send(page, "One more while I read above")
    expect(jump).to_be_visible()
    assert transcript_scroll_top(page) < 5
    jump.click()
    wait_for_transcript_end(page)
    expect(jump).to_be_hidden()
    expect(page.locator("#transcript-pane")).to_be_focused()
    assert horizontal_overflow(page) == 0
    page.context.close()


def test_question_announced_and_docked(desktop: Page):
    start_session(desktop, "Get ready for a question")
    expect(desktop.locator("#session-status .status")).to_have_text("Idle")
    send(desktop, "Ask something [[ask-single]]")
    question = desktop.locator("#questions section.question")
    expect(question).to_be_visible()
    expect(desktop.locator("#announce-assertive")).to_contain_text(
        "The agent asks: Colour Which colour should the button be?"
    )
    # The question sits between the transcript and the composer, overlapping neither.
    pane = desktop.locator("#transcript-pane").bounding_box()
    box = question.bounding_box()
    composer = desktop.locator("#composer").bounding_box()
    assert pane["y"] + pane["height"] <= box["y"] + 1
    assert box["y"] + box["height"] <= composer["y"] + 1
    assert composer["y"] + composer["height"] <= DESKTOP["height"]


def test_drawer_on_narrow_screen(phone: Page, question_session: str):
    phone.goto(question_session)
    toggle = phone.get_by_role("button", name="Sidebar")
    sidebar = phone.get_by_role("navigation", name="Workspaces and sessions")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert horizontal_overflow(phone) == 0

    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar.get_by_role("button", name="Close menu")).to_be_focused()
    expect(sidebar.locator("[aria-current=page]")).to_have_count(1)
    # The drawer slides in, so photograph it once it has arrived.
    phone.wait_for_function(
        "() => getComputedStyle(document.getElementById('sidebar')).transform"
        " === 'none'"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "drawer-phone-light.png"))
    assert sidebar.bounding_box()["height"] == PHONE["height"]

    phone.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()

    toggle.click()
    sidebar.get_by_role("link", name="All sessions").click()
    expect(phone).to_have_url(re.compile(r"/sessions/$"))
    expect(
        phone.get_by_role("navigation", name="Workspaces and sessions")
    ).to_be_hidden()


def test_sidebar_collapse_persists(desktop: Page):
    toggle = desktop.get_by_role("button", name="Sidebar")
    sidebar = desktop.get_by_role("navigation", name="Workspaces and sessions")
    expect(sidebar).to_be_visible()
    try:
        with desktop.expect_response(re.compile(r"/preferences/$")):
            toggle.click()
        expect(sidebar).to_be_hidden()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        desktop.reload()
        expect(sidebar).to_be_hidden()
    finally:
        if toggle.get_attribute("aria-expanded") == "false":
            with desktop.expect_response(re.compile(r"/preferences/$")):
                toggle.click()
    desktop.reload()
    expect(sidebar).to_be_visible()


@pytest.mark.parametrize("viewport", [PHONE, WIDE], ids=["phone", "wide"])
def test_no_horizontal_scroll(browser, live_app, question_session, viewport):  # noqa: F811
    page = open_page(browser, live_app, viewport)
    for path in ["/", "/sessions/", question_session]:
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        assert horizontal_overflow(page) == 0, path
        assert page.evaluate(CLIPPED_BOXES) == [], path
    page.context.close()


def background(page: Page) -> str:
    return page.evaluate("() => getComputedStyle(document.body).backgroundColor")


def choose_theme(page: Page, name: str) -> int:
    """Pick a theme in the user menu and return the status of the saving request."""
    if page.locator("details.user-menu[open]").count() == 0:
        page.locator(".user-menu summary").click()
    with page.expect_response(re.compile(r"/preferences/$")) as saved:
        page.get_by_role("button", name=name).click()
    return saved.value.status


def test_theme_follows_system_and_persists(browser, live_app):  # noqa: F811 (fixture)
    page = open_page(browser, live_app, color_scheme="dark")
    light_page = open_page(browser, live_app, color_scheme="light")
    html = page.locator("html")
    try:
        expect(html).to_have_attribute("data-theme", "system")
        dark_background = background(page)
        system_light_background = background(light_page)
        assert dark_background != system_light_background

        assert choose_theme(page, "Light") == 204
        expect(html).to_have_attribute("data-theme", "light")
        expect(page.get_by_role("button", name="Light")).to_have_attribute(
            "aria-pressed", "true"
        )
        assert background(page) == system_light_background

        # Stored for the user: a reload and another browser both get it at once.
        page.reload()
        expect(html).to_have_attribute("data-theme", "light")
        assert background(page) == system_light_background
        other = open_page(browser, live_app, color_scheme="dark")
        expect(other.locator("html")).to_have_attribute("data-theme", "light")
        other.context.close()

        choose_theme(page, "Dark")
        light_page.reload()
        expect(light_page.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(light_page) == dark_background
    finally:
        choose_theme(page, "System")
        page.context.close()
        light_page.context.close()


def test_pages_have_no_inline_script(desktop: Page, question_session: str):
    refusals = policy_refusals(desktop)
    for path in ["/", "/sessions/", question_session]:
        desktop.goto(path)
        expect(desktop.locator("main h1")).to_be_visible()
        inline = desktop.eval_on_selector_all(
            "script", "scripts => scripts.filter(s => !s.src).length"
        )
        assert inline == 0, path
        handlers = desktop.eval_on_selector_all(
            "*",
            "all => all.filter(e => [...e.attributes]"
            ".some(a => a.name.startsWith('on'))).length",
        )
        assert handlers == 0, path
    # The theme picker and the sidebar toggle run under the policy too.
    desktop.locator(".user-menu summary").click()
    desktop.get_by_role("button", name="System").click()
    desktop.get_by_role("button", name="Sidebar").click()
    desktop.get_by_role("button", name="Sidebar").click()
    assert refusals == []


def test_keyboard_shortcuts(desktop: Page):
    dialog = desktop.get_by_role("dialog", name="Keyboard shortcuts")
    desktop.locator("main h1").click()
    desktop.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Open the inbox")
    desktop.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    menu = desktop.locator(".user-menu summary")
    menu.focus()
    desktop.keyboard.press("Enter")
    expect(desktop.get_by_role("button", name="Log out")).to_be_visible()
    desktop.keyboard.press("Escape")
    expect(desktop.get_by_role("button", name="Log out")).to_be_hidden()
    expect(menu).to_be_focused()

    # "/" on a page without search goes to the sessions page, focused on its search.
    desktop.keyboard.press("/")
    expect(desktop).to_have_url(re.compile(r"/sessions/#search$"))
    search = desktop.get_by_label("Search titles and archived transcripts")
    expect(search).to_be_focused()
    search.fill("no session has this title")
    search.press("Enter")
    expect(desktop.locator(".session-list")).to_contain_text(
        "No sessions match these filters"
    )

    # On the sessions page "/" focuses its own search field, and inside a field
    # "/" is just text.
    desktop.locator("main h1").click()
    desktop.keyboard.press("/")
    expect(search).to_be_focused()
    search.press("End")
    search.press("/")
    expect(search).to_have_value("no session has this title/")
    expect(desktop).to_have_url(re.compile(r"/sessions/\?q="))

    desktop.locator("main h1").click()
    desktop.keyboard.press("g")
    desktop.keyboard.press("i")
    expect(desktop).to_have_url(re.compile(r"/inbox/$"))


def test_focus_is_visible(desktop: Page):
    desktop.keyboard.press("Tab")
    expect(desktop.locator(".skip-link")).to_be_focused()
    desktop.keyboard.press("Tab")
    toggle = desktop.get_by_role("button", name="Sidebar")
    expect(toggle).to_be_focused()
    outline = toggle.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline == "solid"


def inbox_exists(page: Page) -> bool:
    return page.request.get("/inbox/").status == 200


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility_check(browser, live_app, question_session, scheme):  # noqa: F811
    page = open_page(browser, live_app, color_scheme=scheme, bypass_csp=True)
    paths = ["/", question_session, "/sessions/"]
    if inbox_exists(page):
        paths.append("/inbox/")
    for path in paths:
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        if path == question_session:
            expect(page.locator("#questions section.question")).to_have_count(1)
        assert axe_violations(page) == [], path
    page.context.close()


def test_login_page_accessible(browser, live_app):  # noqa: F811 (fixture)
    context = browser.new_context(base_url=live_app, viewport=PHONE, bypass_csp=True)
    page = context.new_page()
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert axe_violations(page) == []
    context.close()


SCREENSHOT_PAGES = {"dashboard": "/", "sessions": "/sessions/"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    "size,viewport", [("phone", PHONE), ("desktop", DESKTOP)], ids=["phone", "desktop"]
)
def test_screenshots(browser, live_app, question_session, scheme, size, viewport):  # noqa: F811
    """Save pictures of the main pages in both themes and both sizes."""
    page = open_page(browser, live_app, viewport, color_scheme=scheme)
    # The stored theme is "system", so the emulated colour scheme decides.
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {**SCREENSHOT_PAGES, "session": question_session}
    for name, path in pages.items():
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        if name == "session":
            expect(page.locator("#questions section.question")).to_have_count(1)
            expect(page.locator("#session-status .status")).to_have_text(
                "Waiting for an answer"
            )
        target = SCREENSHOTS / f"{name}-{size}-{scheme}.png"
        page.screenshot(path=str(target))
        assert target.stat().st_size > 0
    page.context.close()
