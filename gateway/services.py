"""Writes to the gateway's catalog and keys."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gateway.crypto import display_prefix, generate_api_key, hash_api_key
from gateway.models import ApiKey, Channel


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once to whoever asked; never stored


def api_key_create(
    *, account_id: int, name: str = "", allowed_models: list[str] | None = None, expires_at: datetime | None = None,
    project_id: int | None = None, created_by_id: int | None = None,
) -> IssuedKey:
    secret = generate_api_key()
    key = ApiKey.objects.create(
        account_id=account_id,
        project_id=project_id,
        created_by_id=created_by_id,
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


@transaction.atomic
def channel_set_secret(*, channel: Channel, secret: str) -> None:
    """The channel's key pool holds exactly this one secret ("" = none): what one `secret` in the catalog file
    or the operator API means. An unsaved channel is saved first (the pool points at it)."""
    from gateway.pool.store import set_only_secret

    if channel.pk is None:
        channel.save()
    set_only_secret(channel, secret)
