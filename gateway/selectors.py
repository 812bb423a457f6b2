"""Reads of the gateway's catalog and keys, for the layers above (portal, CLI)."""

from django.db.models import Q, QuerySet

from gateway.crypto import hash_api_key
from gateway.models import ApiKey, CatalogModel


def api_key_find(*, key_or_prefix: str) -> ApiKey | None:
    """A full secret (matched by its HMAC) or a display prefix that names exactly one key."""
    if len(key_or_prefix) > 16:
        return ApiKey.objects.filter(secret_hash=hash_api_key(key_or_prefix)).first()
    matches = list(ApiKey.objects.filter(prefix__startswith=key_or_prefix)[:2])
    return matches[0] if len(matches) == 1 else None


def models_enabled() -> QuerySet[CatalogModel]:
    return CatalogModel.objects.filter(enabled=True)


def keys_of_account(*, account_id: int) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(account_id=account_id)


def keys_active(*, account_id: int) -> QuerySet[ApiKey]:
    from django.utils import timezone

    return (
        keys_of_account(account_id=account_id)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    )
