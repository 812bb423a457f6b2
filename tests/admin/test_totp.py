"""Staff sign-in with TOTP (HARNMODEL_ADMIN_TOTP): password + a current code from an enrolled device."""

import base64
import io
import logging
import os
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEntry
from accounts.otp import LOGIN_FAILED, check_otp_middleware

PASSWORD = "correct horse battery staple"


@pytest.fixture
def totp_on(settings):
    settings.HARNMODEL_ADMIN_TOTP = True


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("olga", "olga@example.com", PASSWORD)


def _enrol(username: str, *extra: str) -> tuple[str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("totp_enroll", username, *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), TOTPDevice.objects.get(user__username=username).key


def _code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def _login(client, token: str | None, *, username: str = "olga", password: str = PASSWORD):
    data = {"username": username, "password": password, "next": reverse("admin:index")}
    if token is not None:
        data["otp_token"] = token
    return client.post(reverse("admin:login"), data)


def _refused(response) -> bool:
    return response.status_code == 200 and "login-form" in response.content.decode()


# -- setting on ---------------------------------------------------------------------------------------------------
def test_login_without_token_is_refused(client, operator, totp_on):
    _enrol("olga")
    response = _login(client, None)
    assert _refused(response)
    assert LOGIN_FAILED in response.content.decode()  # the same words as a wrong password: nothing confirmed
    assert "Enter the current code" not in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_wrong_token_is_refused_and_throttled(client, operator, totp_on):
    _enrol("olga")
    device = TOTPDevice.objects.get(user=operator)
    # Time stands still: the right code stays current and django-otp's throttle window (1 s, doubling) never ends.
    with time_machine.travel(timezone.now(), tick=False):
        wrong = f"{(int(_code(device)) + 1) % 10**device.digits:06d}"
        response = _login(client, wrong)
        assert _refused(response)
        assert LOGIN_FAILED in response.content.decode()
        device.refresh_from_db()
        assert device.throttling_failure_count == 1
        # Throttling stays on: straight after a failure even the right code waits.
        response = _login(client, _code(device))
        assert _refused(response) and LOGIN_FAILED in response.content.decode()
        assert client.get(reverse("admin:index")).status_code == 302
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        assert _login(client, _code(device)).status_code == 302


def test_correct_token_signs_in_and_the_console_is_reachable(client, operator, totp_on):
    _enrol("olga")
    device = TOTPDevice.objects.get(user=operator)
    response = _login(client, _code(device))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:ops")).status_code == 200
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_a_code_works_only_once(client, operator, totp_on):
    _enrol("olga")
    device = TOTPDevice.objects.get(user=operator)
    code = _code(device)
    assert _login(client, code).status_code == 302
    client.logout()
    assert _refused(_login(client, code))


def test_wrong_password_with_a_good_code_is_refused(client, operator, totp_on):
    _enrol("olga")
    assert _refused(_login(client, _code(TOTPDevice.objects.get(user=operator)), password="nope"))


def test_staff_without_a_device_gets_the_same_answer_and_the_log_says_why(client, operator, totp_on, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.otp"):
        response = _login(client, "123456")
    assert _refused(response)
    assert LOGIN_FAILED in response.content.decode()
    assert "totp_enroll" not in response.content.decode()
    assert "python manage.py totp_enroll olga" in caplog.text


def test_password_only_session_is_sent_back_to_login(client, operator, totp_on):
    """A session without a verified device (e.g. signed in elsewhere with the password) is not staff here."""
    _enrol("olga")
    client.force_login(operator)
    for name in ("admin:index", "admin:ops", "admin:auth_user_changelist"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), name
    page = client.get(reverse("admin:login")).content.decode()
    assert "without two-factor verification" in page and 'name="otp_token"' in page


def test_the_api_needs_no_totp(client, db, totp_on):
    response = client.get("/v1/models")
    assert response.status_code == 401  # the API answers with its own key check, not a console redirect


# -- setting off --------------------------------------------------------------------------------------------------
def test_setting_off_keeps_the_plain_password_login(client, operator):
    page = client.get(reverse("admin:login")).content.decode()
    assert 'name="otp_token"' not in page
    response = _login(client, None)
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_missing_middleware_is_a_system_check_error(settings, totp_on):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "otp" not in m]
    assert [e.id for e in check_otp_middleware()] == ["accounts.E001"]
    settings.HARNMODEL_ADMIN_TOTP = False
    assert check_otp_middleware() == []


# -- enrolment ----------------------------------------------------------------------------------------------------
def test_enrol_prints_uri_and_qr_once_and_leaks_the_secret_nowhere_else(operator, caplog):
    caplog.set_level(logging.DEBUG)
    out, err, key = _enrol("olga")
    b32 = base64.b32encode(bytes.fromhex(key)).decode()
    device = TOTPDevice.objects.get(user=operator)
    assert device.confirmed and device.name == "console"
    assert out.count("otpauth://totp/harnmodel%3Aolga?") == 1 and out.count(b32) == 1
    assert "█" in out or "▀" in out  # the terminal QR code
    assert key not in out  # the hex key is only in the database
    for where in (err, caplog.text):
        assert key not in where and b32 not in where
    entry = AuditEntry.objects.get(action="totp_enroll")
    assert entry.after["user"] == "olga"
    assert key not in str(entry.after) and b32 not in str(entry.after) and b32 not in entry.object_repr


def test_enrol_refuses_a_second_device_unless_reset(operator):
    _, _, first = _enrol("olga")
    with pytest.raises(CommandError, match="--reset"):
        _enrol("olga")
    out, _, second = _enrol("olga", "--reset")
    assert second != first and TOTPDevice.objects.filter(user=operator).count() == 1
    assert "Replaced" in out


@pytest.mark.parametrize(
    ("username", "staff", "message"), [("ghost", None, "no user named"), ("pat", False, "not an active staff")]
)
def test_enrol_refuses_unknown_and_non_staff_users(db, username, staff, message):
    if staff is not None:
        User.objects.create_user(username, password=PASSWORD, is_staff=staff)
    with pytest.raises(CommandError, match=message):
        _enrol(username)
    assert not TOTPDevice.objects.exists()


# -- the device admin ---------------------------------------------------------------------------------------------
def test_device_admin_never_shows_the_secret(admin_client, operator):
    _, _, key = _enrol("olga")
    device = TOTPDevice.objects.get(user=operator)
    b32 = base64.b32encode(bytes.fromhex(key)).decode()
    changelist = reverse("admin:otp_totp_totpdevice_changelist")
    pages = [changelist, changelist + "?q=olga", reverse("admin:otp_totp_totpdevice_change", args=[device.pk])]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "olga" in html
        assert key not in html and b32 not in html and "otpauth://" not in html, url
    # No add form (it would put a fresh key on screen) and no config/QR pages.
    assert admin_client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    for name in ("admin:otp_totp_totpdevice_config", "admin:otp_totp_totpdevice_qrcode"):
        with pytest.raises(NoReverseMatch):
            reverse(name, args=[device.pk])


def test_deleting_a_device_in_the_admin_revokes_it(admin_client, operator):
    _enrol("olga")
    device = TOTPDevice.objects.get(user=operator)
    response = admin_client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=operator).exists()
    entry = AuditEntry.objects.get(action="totp_revoke")
    assert entry.actor.username == "admin" and entry.before == {"user": "olga", "device": device.pk, "confirmed": True}


# -- throttle (per username and per address, counted before the password is checked) ----------------------------
@pytest.mark.parametrize("totp", [True, False])
def test_console_login_is_throttled_per_user(client, operator, settings, totp):
    settings.HARNMODEL_ADMIN_TOTP = totp
    settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL = 3
    if totp:
        _enrol("olga")
    for _ in range(3):
        assert _refused(_login(client, "000000", password="wrong"))
    device = TOTPDevice.objects.filter(user=operator).first()
    right = _code(device) if device else None
    response = _login(client, right)  # even the right password (and code) waits now
    assert response.status_code == 429 and "Too many failed sign-in attempts" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302
    # Another operator is not locked out by guesses at olga.
    User.objects.create_superuser("pia", "pia@example.com", PASSWORD)
    if totp:
        _enrol("pia")
        pia = _code(TOTPDevice.objects.get(user__username="pia"))
    else:
        pia = None
    assert _login(client, pia, username="pia").status_code == 302


def test_console_login_is_throttled_per_address(client, operator, settings):
    settings.HARNMODEL_LOGIN_FAILURES_PER_IP = 3
    for n in range(3):
        assert _refused(_login(client, None, username=f"guess{n}", password="wrong"))
    assert _login(client, None).status_code == 429
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert _login(other, None).status_code == 302


def test_wrong_password_and_wrong_code_read_the_same(client, operator, totp_on):
    _enrol("olga")
    device = TOTPDevice.objects.get(user=operator)
    wrong_code = f"{(int(_code(device)) + 1) % 10**device.digits:06d}"
    answers = [
        _login(client, _code(device), password="nope"),  # wrong password, right code
        _login(Client(), wrong_code),  # right password, wrong code
        _login(Client(), None),  # right password, no code
        _login(Client(), _code(device), username="nobody"),  # no such user
    ]
    errors = [re.findall(r'<p class="errornote">\s*(.*?)\s*</p>', a.content.decode(), re.S) for a in answers]
    assert all(a.status_code == 200 for a in answers)
    assert errors == [[LOGIN_FAILED]] * 4


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="Redis expires keys on its own clock")
def test_each_lockout_lasts_twice_the_one_before(client, operator, settings):
    settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL = 2
    settings.HARNMODEL_LOGIN_WINDOW_SECONDS = 60
    start = timezone.now()

    def guess_until_locked(at):
        with time_machine.travel(at, tick=False):
            for _ in range(2):
                assert _refused(_login(client, None, password="wrong"))
            assert _login(client, None).status_code == 429

    guess_until_locked(start)  # first lockout: one window
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert _login(client, None).status_code == 429
    guess_until_locked(start + timedelta(seconds=61))  # over; the second lockout within a day: two windows
    with time_machine.travel(start + timedelta(seconds=61 + 61), tick=False):
        assert _login(client, None).status_code == 429
    with time_machine.travel(start + timedelta(seconds=61 + 121), tick=False):
        assert _login(client, None).status_code == 302
