"""Playwright against Debian's Chromium (never `playwright install`), on the live server."""

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"

# Playwright's sync API runs an event loop in the test's thread; Django's ORM refuses that
# unless told the calls are synchronous in fact (they are: one thread, one call at a time).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM):
        pytest.exit(f"{CHROMIUM} is missing: run `make test`, which installs it", returncode=3)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture
def app(live_server, dashboard):
    """The dashboard on a real socket, pointed at the test simulator; its base URL."""
    return live_server.url


@pytest.fixture
def page(page):
    """A page that records every console error (a CSP violation shows up there)."""
    page.console_errors = []
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    return page


# The two screens every page is tried on: a 1366x768 desktop and a 360-pixel phone.
SCREENS = {"desktop": (1366, 768, False), "phone": (360, 740, True)}


@pytest.fixture(params=SCREENS)
def screen(request, browser):
    """A page on each screen, recording every console error (a CSP violation is one)."""
    width, height, mobile = SCREENS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    context.close()
