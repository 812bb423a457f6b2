"""Writes of the management API's own credential: management keys (`mk-…`)."""

from django.utils import timezone

from gateway.crypto import display_prefix, generate_api_key, hash_api_key

from ..models import ManagementKey

MK_PREFIX = "mk-"


def management_key_issue(*, account_id: int | None, user, name: str = "") -> tuple[ManagementKey, str]:
    """A new key and its secret, shown once. Hashed by the same rule as API keys (gateway.crypto)."""
    secret = generate_api_key(prefix=MK_PREFIX)
    key = ManagementKey.objects.create(
        account_id=account_id,
        user=user if getattr(user, "is_authenticated", False) else None,
        name=name.strip(),
        prefix=display_prefix(secret),
        secret_hash=hash_api_key(secret),
    )
    return key, secret


def management_key_find(*, secret: str) -> ManagementKey | None:
    if not secret.startswith(MK_PREFIX):
        return None
    return (
        ManagementKey.objects.select_related("account", "user")
        .filter(secret_hash=hash_api_key(secret), revoked_at=None)
        .first()
    )


def management_key_revoke(*, key_id: int, account_id: int | None, user=None) -> ManagementKey:
    """Revoke one of the account's keys (account_id) or one of a staff member's own operator keys (user)."""
    keys = ManagementKey.objects.filter(account_id=account_id)
    if account_id is None:
        keys = keys.filter(user=user)
    key = keys.get(pk=key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def management_key_touch(*, key: ManagementKey, every_seconds: int = 60) -> None:
    """last_used_at at most once a minute: reads must not write on every call."""
    now = timezone.now()
    ManagementKey.objects.filter(pk=key.pk).exclude(
        last_used_at__gt=now - timezone.timedelta(seconds=every_seconds)
    ).update(last_used_at=now)
