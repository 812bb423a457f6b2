"""Writes and reads of a channel's credential pool. Secrets go in and are never shown back: humans see a short
id (`cred_3f9a1c`) and the last four characters. Everything that needs an upstream key reads it from here."""

import secrets as random_ids

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.crypto import SecretUnreadable, decrypt_secret, encrypt_secret, secret_hint
from gateway.models import Channel, ChannelCredential

PREFIX = "cred_"
MAX_SECRET = 4096  # longer than any upstream key; a pasted document is a mistake


def new_public_id() -> str:
    return PREFIX + random_ids.token_hex(3)


def parse_pasted(text: str) -> list[str]:
    """One secret per line; blank lines and surrounding spaces dropped, duplicates kept once, order kept."""
    seen: dict[str, None] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            seen.setdefault(line, None)
    return list(seen)


def secrets_of(channel: Channel) -> dict[int, str]:
    """credential pk → plaintext, unreadable ones left out (re-pasting them repairs it)."""
    found = {}
    for cred in channel.credentials.all():
        try:
            found[cred.pk] = decrypt_secret(cred.secret_encrypted)
        except SecretUnreadable:
            continue
    return found


@transaction.atomic
def add_secrets(channel: Channel, secrets: list[str], *, weight: int = 1) -> list[ChannelCredential]:
    """Add each secret the pool does not hold yet; returns the credentials created (their ids, never the secrets)."""
    held = set(secrets_of(channel).values())
    created = []
    for secret in secrets:
        if secret in held:
            continue
        held.add(secret)
        for _ in range(5):  # a clash of the 24-bit short id is rare; try another
            try:
                with transaction.atomic():
                    created.append(ChannelCredential.objects.create(
                        channel=channel, public_id=new_public_id(), secret_encrypted=encrypt_secret(secret),
                        secret_hint=secret_hint(secret), weight=weight,
                    ))
                break
            except IntegrityError:
                continue
    return created


@transaction.atomic
def set_only_secret(channel: Channel, secret: str) -> None:
    """The pool holds exactly this one secret (or none, for ""): what a single `secret` in the catalog file or
    the API means. A credential already holding it keeps its id, state and counters."""
    keep = [pk for pk, plain in secrets_of(channel).items() if plain == secret and secret]
    channel.credentials.exclude(pk__in=keep).delete()
    if secret and not keep:
        add_secrets(channel, [secret])


def first_secret(channel: Channel) -> tuple[str, str]:
    """(short id, secret) of an enabled credential for jobs that need just one (model sync, balance polls);
    ("", "") for a channel without credentials (the simulator)."""
    for cred in channel.credentials.filter(enabled=True).order_by("-weight", "pk"):
        try:
            return cred.public_id, decrypt_secret(cred.secret_encrypted)
        except SecretUnreadable:
            continue
    return "", ""


def pool_hint(channel: Channel) -> str:
    if channel.pk is None:
        return ""
    creds = list(channel.credentials.all())
    if not creds:
        return ""
    if len(creds) == 1:
        return creds[0].secret_hint if creds[0].enabled else f"{creds[0].secret_hint} (disabled)"
    healthy = sum(1 for c in creds if c.enabled)
    return f"{len(creds)} keys, {healthy} enabled"


def set_enabled(creds, enabled: bool, reason: str = "") -> int:
    """Operator switch for credentials (the console's actions); returns how many changed."""
    if enabled:
        return creds.filter(enabled=False).update(enabled=True, disabled_reason="", disabled_at=None)
    return creds.filter(enabled=True).update(enabled=False, disabled_reason=reason[:300], disabled_at=timezone.now())


def rotate_encryption(cred: ChannelCredential) -> None:
    """Re-encrypt with the current key (after HARNMODEL_ENCRYPTION_KEY changed)."""
    plain = decrypt_secret(cred.secret_encrypted)
    ChannelCredential.objects.filter(pk=cred.pk).update(secret_encrypted=encrypt_secret(plain))
