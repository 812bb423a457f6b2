"""Writes to the gateway's catalog and keys."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gateway.crypto import display_prefix, encrypt_secret, generate_api_key, hash_api_key, secret_hint
from gateway.models import ApiKey, Channel


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once to whoever asked; never stored


def api_key_create(
    *, account_id: int, name: str = "", allowed_models: list[str] | None = None, expires_at: datetime | None = None
) -> IssuedKey:
    secret = generate_api_key()
    key = ApiKey.objects.create(
        account_id=account_id,
        name=name,
        prefix=display_prefix(secret),
        secret_hash=hash_api_key(secret),
        allowed_models=sorted(set(allowed_models or [])),
        expires_at=expires_at,
    )
    return IssuedKey(key=key, secret=secret)


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_touch(*, key_id: int, every_seconds: float = 60) -> None:
    """last_used_at, at most once per `every_seconds` per key (also across workers): the hot path
    must not write on every call. Called off the response path by gateway.relay.key_touch."""
    now = timezone.now()
    ApiKey.objects.filter(pk=key_id).exclude(
        last_used_at__gt=now - timezone.timedelta(seconds=every_seconds)
    ).update(last_used_at=now)


def channel_set_secret(*, channel: Channel, secret: str) -> None:
    channel.secret_encrypted = encrypt_secret(secret)
    channel.secret_hint = secret_hint(secret)


@transaction.atomic
def channel_rotate_encryption(*, channel: Channel) -> None:
    """Re-encrypt a stored credential with the current key (after HARNMODEL_ENCRYPTION_KEY changed)."""
    from gateway.crypto import decrypt_secret

    plain = decrypt_secret(channel.secret_encrypted)
    Channel.objects.filter(pk=channel.pk).update(secret_encrypted=encrypt_secret(plain))
