"""Writes of the portal: sign-up, invitations, members, keys and wallet settings of one account.

Every function takes the account it acts on and only ever touches rows of that account, so a
view that passes `request.portal.account.pk` cannot be talked into changing someone else's data.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing.models import Wallet
from gateway import selectors as gateway_selectors
from gateway import services as gateway_services
from gateway.models import ApiKey

from ..models import Account, Invitation, Membership, Project
from ..services import account_create
from . import mail_text
from .tokens import email_confirmation_token, invitation_token, invitation_token_hash

INVITATION_TTL = timedelta(days=7)


class PortalError(Exception):
    """A request the portal refuses, with a message fit for the customer."""


def _mail(*, to: str, template: str, context: dict) -> None:
    """Rendered now (in the requester's language), sent once the transaction commits."""
    subject = render_to_string(f"portal/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"portal/email/{template}.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to]))


def _users_by_email(email: str):
    User = get_user_model()
    return User.objects.filter(email__iexact=email)


# --- sign-up --------------------------------------------------------------------------------------


@transaction.atomic
def signup_start(*, email: str, password: str, site_url: str) -> None:
    """Create (or refresh) an inactive user and mail a confirmation link.

    The answer never says whether the address is known: a registered address gets a "you already
    have an account" mail instead, so the form cannot be used to probe who our customers are.
    """
    email = email.strip().lower()
    User = get_user_model()
    existing = _users_by_email(email).first()
    if existing is not None and existing.is_active:
        _mail(to=email, template="signup_exists", context={"reset_url": site_url + reverse("portal:password_reset")})
        return
    user = existing or User(username=email, email=email, is_active=False)
    user.set_password(password)  # a second sign-up re-keys the token, so only its own link works
    user.save()
    _mail_confirmation(user=user, site_url=site_url)


def _mail_confirmation(*, user, site_url: str) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = site_url + reverse("portal:signup_confirm", args=[uid, email_confirmation_token.make_token(user)])
    _mail(to=user.email, template="signup_confirm", context={"confirm_url": link, "email": user.email})


@transaction.atomic
def signup_resend(*, email: str, site_url: str) -> None:
    """Mail the link again to an address that signed up but never confirmed; silently nothing otherwise."""
    user = _users_by_email(email.strip().lower()).filter(is_active=False).first()
    if user is not None and user.has_usable_password():
        _mail_confirmation(user=user, site_url=site_url)


@transaction.atomic
def signup_confirm(*, user) -> Account | None:
    """Activate the user and give them an account of their own (or the operator-made account that
    carries their address, while nobody owns it). None when the address's account is already owned."""
    user.is_active = True
    user.save(update_fields=["is_active"])
    account = Account.objects.select_for_update().filter(email=user.email.lower()).first()
    if account is None:
        account = account_create(email=user.email, name=user.email.split("@")[0])
    elif account.memberships.exists():
        return None
    Membership.objects.get_or_create(account=account, user=user, defaults={"role": Membership.Role.OWNER})
    return account


# --- members and invitations ---------------------------------------------------------------------


@transaction.atomic
def invitation_create(*, account_id: int, email: str, role: str, invited_by, site_url: str) -> Invitation:
    email = email.strip().lower()
    # The row lock makes count-then-create atomic: parallel posts cannot all pass the daily cap.
    account = Account.objects.select_for_update().get(pk=account_id)
    if Membership.objects.filter(account_id=account_id, user__email__iexact=email).exists():
        raise PortalError("already_member")
    now = timezone.now()
    sent_today = Invitation.objects.filter(account_id=account_id, created_at__gte=now - timedelta(days=1)).count()
    if sent_today >= settings.HARNMODEL_INVITATIONS_PER_DAY:
        raise PortalError("invitation_limit")  # each one mails a stranger: a free account must not be a spam relay
    Invitation.objects.filter(account_id=account_id, email=email, accepted_at=None, revoked_at=None).update(
        revoked_at=now
    )  # one live invitation per address: the newest link wins
    token, digest = invitation_token()
    invitation = Invitation.objects.create(
        account_id=account_id,
        email=email,
        role=role,
        token_hash=digest,
        invited_by=invited_by,
        expires_at=now + INVITATION_TTL,
    )
    link = site_url + reverse("portal:invitation_accept", args=[token])
    inviter = getattr(invited_by, "email", "") or ""
    context = {"accept_url": link, "account_name": mail_text.neutralise(account.name), "inviter": inviter}
    _mail(to=email, template="invitation", context=context)
    return invitation


def invitation_revoke(*, account_id: int, invitation_id: int) -> None:
    updated = Invitation.objects.filter(
        pk=invitation_id, account_id=account_id, accepted_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())
    if not updated:
        raise Invitation.DoesNotExist


def invitation_find(*, token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("account").filter(token_hash=invitation_token_hash(token)).first()
    return invitation if invitation is not None and invitation.is_pending else None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    if user.email.lower() != invitation.email:
        raise PortalError("wrong_user")
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        accepted_at=timezone.now(), accepted_by=user
    )
    if not claimed:
        raise PortalError("invitation_used")
    membership, _ = Membership.objects.get_or_create(
        account_id=invitation.account_id, user=user, defaults={"role": invitation.role}
    )
    return membership


@transaction.atomic
def invitation_accept_new_user(*, invitation: Invitation, password: str):
    """The invitee has no login yet: the emailed link proved the address, so the user starts active."""
    if _users_by_email(invitation.email).exists():
        raise PortalError("user_exists")
    User = get_user_model()
    user = User(username=invitation.email, email=invitation.email, is_active=True)
    user.set_password(password)
    user.save()
    invitation_accept(invitation=invitation, user=user)
    return user


@transaction.atomic
def member_remove(*, account_id: int, membership_id: int) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership_id, account_id=account_id)
    if membership.role == Membership.Role.OWNER:
        owners = Membership.objects.select_for_update().filter(account_id=account_id, role=Membership.Role.OWNER)
        if owners.count() <= 1:
            raise PortalError("last_owner")
    membership.delete()


def account_rename(*, account_id: int, name: str) -> None:
    Account.objects.filter(pk=account_id).update(name=name.strip())


# --- API keys -------------------------------------------------------------------------------------

KEY_LIMIT_FIELDS = (
    "rpm_limit",
    "tpm_limit",
    "concurrency_limit",
    "spend_limit_total_micros",
    "spend_limit_daily_micros",
    "spend_limit_monthly_micros",
    "session_budget_micros",
)


@transaction.atomic
def key_issue(
    *, account_id: int, name: str, allowed_models: list[str], expires_at: datetime | None, limits: dict,
    project_id: int | None = None, created_by_id: int | None = None,
) -> gateway_services.IssuedKey:
    """A new key in `project_id` (one of the account's projects; default: the default project), counted
    against the budget of `created_by_id` (a member) if given."""
    _check_models(allowed_models)
    if project_id is not None and not Project.objects.filter(account_id=account_id, pk=project_id).exists():
        raise PortalError("unknown_project")
    issued = gateway_services.api_key_create(
        account_id=account_id, name=name, allowed_models=allowed_models, expires_at=expires_at,
        project_id=project_id, created_by_id=created_by_id,
    )
    # api_key_create takes no limits (yet): set them in the same transaction, before anyone can
    # call with the key.
    values = {field: limits.get(field) for field in KEY_LIMIT_FIELDS}
    ApiKey.objects.filter(pk=issued.key.pk).update(**values)
    for field, value in values.items():
        setattr(issued.key, field, value)
    return issued


def _check_models(allowed_models: list[str]) -> None:
    unknown = set(allowed_models) - set(gateway_selectors.models_enabled().values_list("public_id", flat=True))
    if unknown:
        raise PortalError("unknown_model")


KEY_UPDATE_FIELDS = ("name", "allowed_models", "expires_at", "project_id", *KEY_LIMIT_FIELDS)


@transaction.atomic
def key_update(*, account_id: int, key_id: int, changes: dict) -> ApiKey:
    """Change a live key of the account (name, models, expiry, limits); a revoked key stays as it was."""
    key = gateway_selectors.keys_of_account(account_id=account_id).select_for_update().get(pk=key_id)
    if key.revoked_at is not None:
        raise PortalError("key_revoked")
    values = {field: value for field, value in changes.items() if field in KEY_UPDATE_FIELDS}
    if "allowed_models" in values:
        _check_models(values["allowed_models"])
        values["allowed_models"] = sorted(set(values["allowed_models"] or []))
    if "project_id" in values and not Project.objects.filter(account_id=account_id, pk=values["project_id"]).exists():
        raise PortalError("unknown_project")
    for field, value in values.items():
        setattr(key, field, value)
    if values:
        key.save(update_fields=list(values))
    return key


def key_revoke(*, account_id: int, key_id: int) -> ApiKey:
    key = gateway_selectors.keys_of_account(account_id=account_id).get(pk=key_id)
    return gateway_services.api_key_revoke(key=key)


# --- wallet ---------------------------------------------------------------------------------------


def wallet_threshold_set(*, account_id: int, threshold_micros: int | None) -> None:
    # TODO(billing): move behind a billing service when one exists for it.
    Wallet.objects.filter(account_id=account_id).update(
        low_balance_threshold_micros=threshold_micros, low_balance_alerted_at=None
    )
