"""The embedded demo's seed: an operator, a funded customer with a key, gpt-4o on the simulator.

Idempotent: every step looks before it writes, so `scripts/run` can call it on every start. Things
an operator may have changed since (a price, a password, channel options) are left as they are.
Secrets the demo must be able to print again live in VAR_DIR (git-ignored), mode 0600.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing import selectors as billing_selectors
from billing import services as billing_services
from billing.models import LedgerEntry
from billing.money import parse_amount
from gateway import selectors as gateway_selectors
from gateway import services as gateway_services
from gateway.models import CatalogModel, Channel, ChannelModel

from . import selectors, services
from .models import Account, Membership

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_ENV = "HARNMODEL_DEMO_ADMIN_PASSWORD"
ADMIN_PASSWORD_FILE = "demo_admin_password"
API_KEY_FILE = "demo_api_key"
CUSTOMER_EMAIL = "demo@harnmodel.local"
CUSTOMER_USERNAME = "demo"
CREDIT = "100"
CREDIT_KEY = "seed:demo"
MODEL_ID = "gpt-4o"
MODEL_PRICE = {"input": "2.5", "cached": "1.25", "output": "10"}  # per 1M tokens
CHANNEL_NAME = "simulator"
CHANNEL_PROVIDER = "simulator"
CHANNEL_OPTIONS = {"latency_ms": 20, "token_delay_ms": 15}


def _write_secret(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only; replaced atomically so no reader sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _seed_admin(var_dir: Path, created: list[str]) -> str | None:
    """The operator. Returns the password file's path, or None when the password is not ours to tell
    (it came from the environment, or the user existed before the demo seeded it)."""
    User = get_user_model()
    env_password = os.environ.get(ADMIN_PASSWORD_ENV, "")
    password_file = var_dir / ADMIN_PASSWORD_FILE
    user = User.objects.filter(username=ADMIN_USERNAME).first()

    if env_password:
        # An explicit password wins, also over one set earlier: that is what the variable is for.
        if user is None:
            User.objects.create_superuser(username=ADMIN_USERNAME, email="admin@harnmodel.local", password=env_password)
            created.append("admin")
        elif not user.check_password(env_password):
            user.set_password(env_password)
            user.save(update_fields=["password"])
            created.append("admin_password")
        return None

    if user is not None:
        # Never reset a password someone may have changed; only report the file if it is still true.
        stored = _read_secret(password_file)
        return str(password_file) if stored and user.check_password(stored) else None

    password = _read_secret(password_file)
    if not password:
        password = secrets.token_urlsafe(12)
        _write_secret(password_file, password)
    User.objects.create_superuser(username=ADMIN_USERNAME, email="admin@harnmodel.local", password=password)
    created.append("admin")
    return str(password_file)


def _seed_customer(created: list[str]) -> Account:
    User = get_user_model()
    account = selectors.account_by_email(email=CUSTOMER_EMAIL)
    if account is None:
        account = services.account_create(email=CUSTOMER_EMAIL, name="Demo")
        created.append("account")
    user, user_created = User.objects.get_or_create(username=CUSTOMER_USERNAME, defaults={"email": CUSTOMER_EMAIL})
    if user_created:
        user.set_unusable_password()  # the demo customer calls the API with its key; no portal login
        user.save(update_fields=["password"])
        created.append("customer_user")
    _, member_created = Membership.objects.get_or_create(
        account=account, user=user, defaults={"role": Membership.Role.OWNER}
    )
    if member_created:
        created.append("membership")
    # Credited once: wallet_credit returns the first row for a key it has already seen.
    credited_before = LedgerEntry.objects.filter(idempotency_key=CREDIT_KEY).exists()
    billing_services.wallet_credit(
        account_id=account.pk,
        amount_micros=parse_amount(CREDIT),
        idempotency_key=CREDIT_KEY,
        kind=LedgerEntry.Kind.CREDIT,
        note="demo credit",
        actor="seed_demo",
    )
    if not credited_before:
        created.append("credit")
    return account


def _seed_catalog(created: list[str]) -> None:
    model, model_created = CatalogModel.objects.get_or_create(public_id=MODEL_ID, defaults={"display_name": "GPT-4o"})
    if model_created:
        created.append("model")
    # Only a first price: a price an operator published since must survive the next start.
    if billing_selectors.price_current(model_id=MODEL_ID) is None:
        billing_services.price_publish(
            model_id=MODEL_ID,
            input_micros=parse_amount(MODEL_PRICE["input"]),
            cached_input_micros=parse_amount(MODEL_PRICE["cached"]),
            output_micros=parse_amount(MODEL_PRICE["output"]),
        )
        created.append("price")
    channel, channel_created = Channel.objects.get_or_create(
        name=CHANNEL_NAME, defaults={"provider": CHANNEL_PROVIDER, "base_url": "", "options": dict(CHANNEL_OPTIONS)}
    )
    if channel_created:
        created.append("channel")
    _, map_created = ChannelModel.objects.get_or_create(channel=channel, model=model, defaults={"upstream_name": ""})
    if map_created:
        created.append("channel_model")


def _seed_api_key(var_dir: Path, account: Account, created: list[str]) -> str:
    """Reuse the saved key while it still authenticates for the demo account, else issue one."""
    key_file = var_dir / API_KEY_FILE
    secret = _read_secret(key_file)
    # Guard the lookup: a short string would be matched as a display prefix, not as a secret.
    if secret.startswith("sk-") and len(secret) > 16:
        key = gateway_selectors.api_key_find(key_or_prefix=secret)
        if (
            key is not None
            and key.account_id == account.pk
            and key.revoked_at is None
            and (key.expires_at is None or key.expires_at > timezone.now())
        ):
            return secret
    issued = gateway_services.api_key_create(account_id=account.pk, name="demo")
    _write_secret(key_file, issued.secret)
    created.append("api_key")
    return issued.secret


def seed_demo() -> dict:
    """Seed (or confirm) the demo. Returns what `manage.py seed_demo` prints, plus `created`: the
    names of the things this call wrote (empty on a re-run)."""
    var_dir = Path(settings.VAR_DIR)
    created: list[str] = []
    with transaction.atomic():
        password_file = _seed_admin(var_dir, created)
        account = _seed_customer(created)
        _seed_catalog(created)
        api_key = _seed_api_key(var_dir, account, created)
    summary = billing_selectors.wallet_summary(account_id=account.pk)
    return {
        "admin_user": ADMIN_USERNAME,
        "admin_password_file": password_file,
        "api_key": api_key,
        "base_model": MODEL_ID,
        "customer": CUSTOMER_EMAIL,
        "balance_micros": summary["balance_micros"],
        "created": created,
    }
