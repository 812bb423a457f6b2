"""Forms of the portal. Amounts are typed in currency units and become integer micros here."""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.money import AmountError, parse_amount
from gateway import selectors as gateway_selectors

from ..models import Membership
from . import mail_text
from .selectors import STATUS_CHOICES, UsageFilter

MAX_AMOUNT = 1_000_000  # currency units; a typo guard, not a business rule
TOPUP_PRESETS = ("50", "100", "200", "500")


def _amount(value: str, *, required: bool = False) -> int | None:
    if value in (None, ""):
        if required:
            raise forms.ValidationError(_("Enter an amount."))
        return None
    try:
        micros = parse_amount(value)
    except AmountError as exc:
        raise forms.ValidationError(_("Enter an amount such as 12.50.")) from exc
    if micros > MAX_AMOUNT * 1_000_000:
        raise forms.ValidationError(_("That amount is too large."))
    return micros


class LoginForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)

    def clean(self):
        email = (self.cleaned_data.get("email") or "").strip().lower()
        password = self.cleaned_data.get("password")
        if email and password:
            username = (
                get_user_model().objects.filter(email__iexact=email).values_list("username", flat=True).first() or email
            )
            self.user = authenticate(self.request, username=username, password=password)
            if self.user is None:
                raise forms.ValidationError(
                    _("Wrong email or password — or the email address is not confirmed yet."), code="invalid_login"
                )
        return self.cleaned_data


class _PasswordPair(forms.Form):
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters; not too common, not all digits, not like your email."),
    )
    password2 = forms.CharField(
        label=_("Password again"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def email_for_validation(self) -> str:
        return ""

    def clean(self):
        data = super().clean()
        one, two = data.get("password1"), data.get("password2")
        if one and two and one != two:
            self.add_error("password2", _("The two passwords differ."))
        elif one:
            email = self.email_for_validation()
            probe = get_user_model()(username=email, email=email)
            try:
                password_validation.validate_password(one, probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class SignupForm(_PasswordPair):
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    field_order = ["email", "password1", "password2"]

    def email_for_validation(self) -> str:
        return (self.cleaned_data.get("email") or "").lower()


class InvitationSignupForm(_PasswordPair):
    def __init__(self, *args, email: str = "", **kwargs):
        self._email = email
        super().__init__(*args, **kwargs)

    def email_for_validation(self) -> str:
        return self._email


class ResendForm(forms.Form):
    email = forms.EmailField(label=_("Email"))


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(
        label=_("Role"), choices=[(Membership.Role.MEMBER, _("Member")), (Membership.Role.OWNER, _("Owner"))]
    )


class AccountNameForm(forms.Form):
    name = forms.CharField(label=_("Account name"), max_length=100)

    def clean_name(self):
        # The name travels in invitation mails to strangers: no links in it (mail_text defuses the rest).
        name = " ".join(self.cleaned_data["name"].split())
        if mail_text.looks_like_a_link(name):
            raise forms.ValidationError(_("An account name cannot contain a web address."), code="link")
        return name


class ApiKeyForm(forms.Form):
    EXPIRY = [("", _("Never")), ("7", _("In 7 days")), ("30", _("In 30 days")), ("90", _("In 90 days")),
              ("date", _("On a date"))]  # fmt: skip

    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("To tell your keys apart, e.g. “ci-bot”."))
    project = forms.TypedChoiceField(label=_("Project"), coerce=int, required=False,
                                     help_text=_("The key spends from this project's budgets."))  # fmt: skip
    allowed_models = forms.MultipleChoiceField(
        label=_("Allowed models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model, including ones added later."),
    )
    expiry = forms.ChoiceField(label=_("Expires"), choices=EXPIRY, required=False)
    expires_on = forms.DateField(label=_("Expiry date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    spend_limit_total = forms.CharField(label=_("Spend cap, total"), required=False)
    spend_limit_daily = forms.CharField(label=_("Spend cap, per day"), required=False)
    spend_limit_monthly = forms.CharField(label=_("Spend cap, per month"), required=False)
    session_budget = forms.CharField(
        label=_("Budget per session"), required=False,
        help_text=_("An agent's session (X-Session-Id or prompt_cache_key) that has spent this is refused."),
    )
    rpm_limit = forms.IntegerField(label=_("Requests per minute"), required=False, min_value=1)
    tpm_limit = forms.IntegerField(label=_("Tokens per minute"), required=False, min_value=1)
    concurrency_limit = forms.IntegerField(label=_("Requests in flight"), required=False, min_value=1)

    def __init__(self, *args, projects: Sequence = (), **kwargs):
        super().__init__(*args, **kwargs)
        ids = gateway_selectors.models_enabled().order_by("public_id").values_list("public_id", flat=True)
        self.fields["allowed_models"].choices = [(m, m) for m in ids]
        self.fields["project"].choices = [(p.pk, p.name) for p in projects]  # the account's own, default first
        if projects and not self.is_bound:
            self.fields["project"].initial = projects[0].pk

    def clean_spend_limit_total(self):
        return _amount(self.cleaned_data["spend_limit_total"])

    def clean_spend_limit_daily(self):
        return _amount(self.cleaned_data["spend_limit_daily"])

    def clean_spend_limit_monthly(self):
        return _amount(self.cleaned_data["spend_limit_monthly"])

    def clean_session_budget(self):
        return _amount(self.cleaned_data["session_budget"])

    def clean(self):
        data = super().clean()
        expiry, on = data.get("expiry"), data.get("expires_on")
        data["expires_at"] = None
        if expiry and expiry.isdigit():
            data["expires_at"] = timezone.now() + timedelta(days=int(expiry))
        elif expiry == "date":
            if not on:
                self.add_error("expires_on", _("Pick the expiry date."))
            elif on <= timezone.localdate():
                self.add_error("expires_on", _("The expiry date must be in the future."))
            else:
                data["expires_at"] = timezone.make_aware(datetime.combine(on, time.min))
        return data

    def limits(self) -> dict:
        data = self.cleaned_data
        return {
            "rpm_limit": data.get("rpm_limit"),
            "tpm_limit": data.get("tpm_limit"),
            "concurrency_limit": data.get("concurrency_limit"),
            "spend_limit_total_micros": data.get("spend_limit_total"),
            "spend_limit_daily_micros": data.get("spend_limit_daily"),
            "spend_limit_monthly_micros": data.get("spend_limit_monthly"),
            "session_budget_micros": data.get("session_budget"),
        }


# Filter dates are bounded: a day near the calendar's end overflows when a day is added or the time zone applied.
FILTER_DATES = (date(2000, 1, 1), date(2999, 12, 31))
_filter_dates = [MinValueValidator(FILTER_DATES[0]), MaxValueValidator(FILTER_DATES[1])]
_printable = RegexValidator(r"^[\x21-\x7e]*$", _("Enter a request ID as it was sent (letters, digits, punctuation)."))


class UsageFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, validators=_filter_dates,
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    end = forms.DateField(label=_("To"), required=False, validators=_filter_dates,
                          widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    key = forms.TypedChoiceField(label=_("Key"), required=False, coerce=int, empty_value=None)
    model = forms.ChoiceField(label=_("Model"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    request_id = forms.CharField(label=_("Request ID"), required=False, max_length=64, validators=[_printable],
                                 widget=forms.TextInput(attrs={"placeholder": "req_…", "autocomplete": "off"}))  # fmt: skip

    def __init__(self, *args, keys=(), models=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [("", _("All keys"))] + [
            (k.pk, f"{k.name or k.prefix} ({k.prefix}…)") for k in keys
        ]
        self.fields["model"].choices = [("", _("All models"))] + [(m, m) for m in models]
        labels = {"ok": _("Succeeded"), "error": _("Failed (any)")}
        self.fields["status"].choices = [("", _("Any status"))] + [(s, labels.get(s, s)) for s in STATUS_CHOICES]

    def to_filter(self) -> UsageFilter:
        if not self.is_valid():
            return UsageFilter()
        data = self.cleaned_data
        return UsageFilter(
            start=data.get("start"),
            end=data.get("end"),
            key_id=data.get("key"),
            model=data.get("model") or "",
            status=data.get("status") or "",
            request_id=(data.get("request_id") or "").strip(),
        )


class RedeemForm(forms.Form):
    code = forms.CharField(label=_("Redemption code"), max_length=64,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "HM-XXXX-XXXX-XXXX-XXXX"}))  # fmt: skip


class TopUpForm(forms.Form):
    preset = forms.ChoiceField(label=_("Amount"), required=False, widget=forms.RadioSelect)
    custom = forms.CharField(label=_("Other amount"), required=False)
    provider = forms.ChoiceField(label=_("Pay with"), required=False, widget=forms.RadioSelect)

    def __init__(self, *args, currency_symbol: str = "", providers: Sequence[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [(p, f"{currency_symbol}{p}") for p in TOPUP_PRESETS]
        self.fields["provider"].choices = list(providers)  # only the configured ones
        if providers:
            self.fields["provider"].initial = providers[0][0]

    def clean(self):
        data = super().clean()
        raw = (data.get("custom") or "").strip() or data.get("preset") or ""
        try:
            data["amount_micros"] = _amount(raw, required=True)
        except forms.ValidationError as exc:
            self.add_error("custom", exc)
        if not data.get("provider") and "provider" not in self.errors:
            data["provider"] = self.fields["provider"].initial or ""  # the only / first one offered
        return data


class ThresholdForm(forms.Form):
    threshold = forms.CharField(
        label=_("Warn me when the balance falls below"),
        required=False,
        help_text=_("Empty: the platform default."),
    )

    def clean_threshold(self):
        return _amount(self.cleaned_data["threshold"])
