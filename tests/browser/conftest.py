"""Browser fixtures: the whole app under a real ASGI server (uvicorn subprocess on the test database,
file-based email so the test can read the confirmation link) and Debian's Chromium driven by Playwright.

Tests skip with a reason when /usr/bin/chromium or Playwright is missing: `apt-get install -y chromium`.
They must be `django_db(transaction=True)`: their rows are committed, so the server process sees them.
"""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import launch_gateway, stop_gateway, wait_for

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = REPO / "tests" / "artifacts"

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extras install it
    sync_playwright = None


def pytest_collection_modifyitems(config, items):
    reason = None
    if sync_playwright is None:
        reason = "Playwright is not installed (pip install -e '.[dev]')"
    elif not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if reason:
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class PortalServer:
    url: str
    mail_dir: Path
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def mails(self) -> list[str]:
        return [path.read_text(errors="replace") for path in sorted(self.mail_dir.glob("*.log"))]

    def link_in_mail(self, to: str, pattern: str, *, timeout: float = 10.0) -> str:
        """The first link matching `pattern` in a mail sent to `to` (waits for the mail)."""

        def find():
            for mail in self.mails():
                if f"To: {to}" in mail:
                    found = re.search(pattern, mail)
                    if found:
                        return found.group(0)
            return None

        link = wait_for(find, timeout=timeout, what=f"a mail to {to} with {pattern}")
        # Mailed links carry HARNMODEL_SITE_URL (never the Host header); the test server has its own port.
        return re.sub(r"^https?://[^/]+", self.url.rstrip("/"), link)


@pytest.fixture(scope="session")
def portal_server(django_db_setup, tmp_path_factory) -> Iterator[PortalServer]:
    root = tmp_path_factory.mktemp("portal")
    mail_dir = root / "mail"
    mail_dir.mkdir()
    gateway = launch_gateway(
        root / "uvicorn.log",
        app="tests.browser.fresh_asgi:application",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
        STRIPE_SECRET_KEY="",
        STRIPE_WEBHOOK_SECRET="",
    )
    try:
        yield PortalServer(url=gateway.url, mail_dir=mail_dir, log_path=gateway.log_path)
    finally:
        stop_gateway(gateway)


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API keeps an event loop running in this thread until it stops,
    # and the async tests that run after this module need the thread free of it.
    # While it runs, Django would refuse
    # every ORM call of the test (and of its database teardown) as "async unsafe". They are not:
    # nothing else runs in that loop.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def collect_errors(page) -> list[str]:
    """Uncaught JavaScript errors and Content-Security-Policy violations (Chromium reports those on the console)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


@pytest.fixture
def page(browser, portal_server):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    errors = collect_errors(page)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors or CSP violations: {errors}"


@pytest.fixture
def shot():
    """shot(page, name): a full-page screenshot in tests/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"portal-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture(autouse=True)
def _requests_settled_before_flush(transactional_db) -> Iterator[None]:
    """A stream settles just after its last byte: wait for every hold to close before the flush."""
    yield
    from billing.models import Hold

    wait_for(lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(), timeout=15, what="holds settled")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("portal_server") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and server is not None:
        report.sections.append(("portal server log (tail)", server.log()[-6000:]))
