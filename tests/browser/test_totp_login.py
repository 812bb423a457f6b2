"""Console sign-in with TOTP on (HARNMODEL_ADMIN_TOTP=true) in Chromium against a real server: the password alone
is refused, the authenticator code lets the operator in, and the control room shows the scheduled jobs."""

import io
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.otp import LOGIN_FAILED
from tests.browser.conftest import collect_errors
from tests.e2e.conftest import Gateway, launch_gateway, stop_gateway

PASSWORD = "totp-browser-password-2718"


@pytest.fixture(scope="module")
def totp_server(django_db_setup, tmp_path_factory) -> Iterator[Gateway]:
    gateway = launch_gateway(tmp_path_factory.mktemp("totp") / "uvicorn.log", HARNMODEL_ADMIN_TOTP="true")
    try:
        yield gateway
    finally:
        stop_gateway(gateway)


def _code(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


@pytest.mark.django_db(transaction=True)
def test_operator_signs_in_with_an_authenticator_code(browser, totp_server, shot):
    User.objects.create_user("ops", password=PASSWORD, is_staff=True, is_superuser=True)
    call_command("totp_enroll", "ops", stdout=io.StringIO())
    device = TOTPDevice.objects.get(user__username="ops")

    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    errors = collect_errors(page)
    page.set_default_timeout(15_000)
    try:
        page.goto(totp_server.url + "/admin/login/?next=/admin/ops/")
        page.get_by_label("Username").fill("ops")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".errornote")).to_contain_text(LOGIN_FAILED)  # no hint that the password was right

        page.get_by_label("Username").fill("ops")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Authenticator code").fill(_code(device))
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#ops-jobs h2")).to_have_text("Scheduled jobs")
        expect(page.locator("#ops-jobs tbody tr")).to_have_count(len(settings.CELERY_BEAT_SCHEDULE))
        shot(page, "console-scheduled-jobs")
        assert not errors, f"JavaScript errors or CSP violations: {errors}"
    finally:
        context.close()
