"""Two-factor (TOTP) sign-in for the operator console, in force when settings.HARNMODEL_ADMIN_TOTP is on.

django-otp does the cryptography, replay protection (a code works once) and throttling (each wrong code doubles
the wait); this module decides *when* it applies and narrows it to our case: one TOTP device per operator,
enrolled on the server with `manage.py totp_enroll`, so the login form has no device picker or challenge button.
The setting is read per request, not at import, so the embedded demo keeps its plain password login and tests
can switch it.
"""

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.core import checks
from django.db import transaction
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django_otp.admin import OTPAdminSite
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from .portal import throttle

DEVICE_NAME = "console"
OTP_MIDDLEWARE = "django_otp.middleware.OTPMiddleware"
# One answer for every failed sign-in (wrong user, password or code, no device): a message that changed
# only once the password was right would confirm the password to whoever is guessing it.
LOGIN_FAILED = (
    "Please enter the correct username, password and authenticator code for a staff account. "
    "The code changes every 30 seconds and works once."
)
THROTTLED = "Too many failed sign-in attempts. Wait a few minutes, then try again."
logger = logging.getLogger(__name__)


def totp_required() -> bool:
    return bool(getattr(settings, "HARNMODEL_ADMIN_TOTP", False))


def enrol_hint(username: str) -> str:
    return f"python manage.py totp_enroll {username}"


def staff_device(user: AbstractBaseUser, *, for_verify: bool = False) -> TOTPDevice | None:
    """The operator's confirmed TOTP device (the oldest, should there ever be two)."""
    devices = TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk")
    if for_verify:  # django-otp's rule: lock the row so two concurrent logins cannot both spend one code
        devices = devices.select_for_update()
    return devices.first()


class EnrolError(Exception):
    """Why a device could not be enrolled; the message is shown to the operator as is."""


@transaction.atomic
def totp_device_enroll(*, user: AbstractBaseUser, reset: bool = False) -> tuple[TOTPDevice, int]:
    """Create the operator's confirmed TOTP device; with reset, replace what they had (old codes stop working).

    Returns the device and how many were replaced. The caller shows `device.config_url` once and never stores it.
    """
    if not user.is_active or not user.is_staff:
        raise EnrolError(f"{user.get_username()} is not an active staff user: only staff sign in to the console")
    existing = TOTPDevice.objects.filter(user=user)
    if existing.filter(confirmed=True).exists() and not reset:
        raise EnrolError(
            f"{user.get_username()} already has a TOTP device; use --reset to replace it (the old one stops working)"
        )
    replaced, _ = existing.delete()
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    return device, replaced


class TOTPAdminLoginForm(AdminAuthenticationForm, OTPAuthenticationFormMixin):
    """Username + password + the current code of the operator's one device (django-otp's admin form, narrowed)."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": "Enter the current code from your authenticator app.",
        "invalid_token": "That authenticator code is not valid (or was already used). Try the next one.",
    }

    def clean(self) -> dict[str, Any]:
        try:
            cleaned = super().clean()  # username, password, is_staff: the first factor
            self.clean_otp(self.get_user())
        except forms.ValidationError as exc:
            if getattr(exc, "code", None) == "no_device":  # the operator learns why from the log, not the page
                logger.warning("console sign-in refused: %s has no TOTP device; run `%s`",
                               self.get_user().get_username(), enrol_hint(self.get_user().get_username()))  # fmt: skip
            self.user_cache = None
            raise forms.ValidationError(LOGIN_FAILED, code="invalid_login") from None
        return cleaned

    def _chosen_device(self, user: AbstractBaseUser) -> TOTPDevice:
        # Called inside clean_otp's transaction, so the row lock holds until the code is spent.
        device = staff_device(user, for_verify=True)
        if device is None:
            raise forms.ValidationError(
                "Two-factor sign-in is required and no authenticator is enrolled for this account. "
                f"An operator must run `{enrol_hint(user.get_username())}` on the server.",
                code="no_device",
            )
        return device

    def _update_form(self, user: AbstractBaseUser) -> None:
        # django-otp fills a device picker and re-renders the password into the page; we have neither need.
        return None


def _verified(request: HttpRequest) -> bool:
    # Without OTPMiddleware the user has no is_verified(): fail closed (see the system check below).
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified and is_verified())


class ConsoleAdminSite(OTPAdminSite):
    """admin.site's class: OTPAdminSite's rules while HARNMODEL_ADMIN_TOTP is on, a plain AdminSite otherwise.

    Installed by swapping the class of the existing admin.site (django-otp's documented way), so every
    ModelAdmin registration and the get_urls customisation in accounts/admin.py stay as they are."""

    @property
    def login_form(self) -> type[forms.Form] | None:
        return TOTPAdminLoginForm if totp_required() else None

    @property
    def login_template(self) -> str | None:
        return "admin/totp_login.html" if totp_required() else None

    def has_permission(self, request: HttpRequest) -> bool:
        # Every admin view (admin_view) asks this: a password-only session is treated as not staff.
        allowed = AdminSite.has_permission(self, request)
        return allowed and (not totp_required() or _verified(request))

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Throttled per username and per address (TOTP on or off), counted before the password is checked."""
        if request.method != "POST":
            return super().login(request, extra_context)
        limits = throttle.admin_login_limits()
        username = (request.POST.get("username") or "").strip()[:150]
        if not throttle.attempt(limits, request, username):
            return self._throttled(request, username)
        response = super().login(request, extra_context)
        if response.status_code == 302:  # signed in: LoginView redirects only on success
            throttle.succeeded(limits, request, username)
        return response

    def _throttled(self, request: HttpRequest, username: str) -> HttpResponse:
        form = (self.login_form or AdminAuthenticationForm)(request, data={"username": username})
        form._errors, form.cleaned_data = ErrorDict(), {}  # shown as refused without checking anything
        form.add_error(None, THROTTLED)
        context = {
            **self.each_context(request),
            "title": gettext("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
            "form": form,
        }
        return TemplateResponse(request, self.login_template or "admin/login.html", context, status=429)


def install(site: AdminSite) -> None:
    site.__class__ = ConsoleAdminSite


@checks.register(checks.Tags.security)
def check_otp_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if totp_required() and OTP_MIDDLEWARE not in settings.MIDDLEWARE:
        return [
            checks.Error(
                f"HARNMODEL_ADMIN_TOTP is on but {OTP_MIDDLEWARE} is not in MIDDLEWARE: nobody can sign in.",
                hint="Add it right after django.contrib.auth.middleware.AuthenticationMiddleware.",
                id="accounts.E001",
            )
        ]
    return []
