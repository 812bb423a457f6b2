"""Redemption codes: prepaid amounts handed out as text, each redeemable once.

A code is shown once when generated; only an HMAC of it is stored (keyed, so a leaked table cannot
be brute-forced offline). 16 characters of Crockford base32 carry 80 random bits.
"""

import hashlib
import hmac
import secrets
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .locks import lock_wallet
from .models import LedgerEntry, RedemptionCode
from .services import wallet_credit

CODE_PREFIX = "HM"
# Crockford's base32: no I, L, O or U, so a code read aloud or retyped from paper survives.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPO_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_GROUPS, _GROUP_LENGTH = 4, 4
MAX_BATCH = 10_000


class RedemptionError(Exception):
    """A code that cannot be redeemed. `reason` is stable for callers: see the constants."""

    UNKNOWN = "code_unknown"
    EXPIRED = "code_expired"
    REDEEMED = "code_redeemed"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _generate_code() -> str:
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LENGTH)) for _ in range(_GROUPS))
    return "-".join([CODE_PREFIX, *groups])


def _canonical(code: str) -> str | None:
    """What a person typed → the 16 random characters, or None if it cannot be a code."""
    text = "".join(code.split()).upper().replace("-", "")
    if text.startswith(CODE_PREFIX) and len(text) == len(CODE_PREFIX) + _GROUPS * _GROUP_LENGTH:
        text = text[len(CODE_PREFIX) :]
    text = text.translate(_TYPO_FIXES)
    if len(text) != _GROUPS * _GROUP_LENGTH or any(ch not in _ALPHABET for ch in text):
        return None
    return text


def code_hash(code: str) -> str | None:
    canonical = _canonical(code)
    if canonical is None:
        return None
    # "redeem:" separates these digests from API-key digests made with the same secret.
    message = f"redeem:{canonical}".encode()
    return hmac.new(settings.HARNMODEL_KEY_HMAC_SECRET.encode(), message, hashlib.sha256).hexdigest()


def code_state(code: RedemptionCode, *, now: datetime | None = None) -> str:
    """unused | redeemed | expired, for display."""
    if code.redeemed_at is not None:
        return "redeemed"
    if code.expires_at is not None and code.expires_at <= (now or timezone.now()):
        return "expired"
    return "unused"


def redemption_codes_generate(
    *,
    count: int,
    amount_micros: int,
    expires_at: datetime | None,
    batch: str,
    created_by: str,
    description: str = "",
) -> list[str]:
    """Create `count` codes worth `amount_micros` each. Returns the codes: the only time they exist in clear.
    `batch` is an internal label; `description` is what a redeeming customer reads (empty: "Redeemed code")."""
    description = description.strip()
    if len(description) > RedemptionCode._meta.get_field("description").max_length:
        raise ValueError("the customer description is too long")
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"count must be between 1 and {MAX_BATCH}")
    if amount_micros <= 0:
        raise ValueError("amount must be positive")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("expiry must be in the future")
    codes = [_generate_code() for _ in range(count)]
    RedemptionCode.objects.bulk_create(
        RedemptionCode(
            code_hash=code_hash(code),
            prefix=code[: len(CODE_PREFIX) + 1 + _GROUP_LENGTH],
            amount_micros=amount_micros,
            expires_at=expires_at,
            batch=batch.strip(),
            description=description,
            created_by=created_by,
        )
        for code in codes
    )
    return codes


def code_redeem(*, account_id: int, code: str, actor: str = "") -> LedgerEntry:
    """Credit the code's amount to the account's wallet, once per code, whoever asks first.

    Raises RedemptionError (unknown, expired, already redeemed); nothing changes then.
    """
    digest = code_hash(code)
    found = RedemptionCode.objects.filter(code_hash=digest).first() if digest else None
    if found is None:
        raise RedemptionError(RedemptionError.UNKNOWN, "no such redemption code")
    with transaction.atomic():
        lock_wallet(account_id=account_id)  # the house lock order: wallet first, then the code
        now = timezone.now()
        # The claim is one conditional UPDATE: of two concurrent redeemers the second waits on the
        # row, then finds redeemed_at set and updates nothing (PostgreSQL re-checks the WHERE after
        # the wait; SQLite has one writer at a time). No read-then-write window.
        claimed = (
            RedemptionCode.objects.filter(pk=found.pk, redeemed_at__isnull=True)
            .exclude(expires_at__lte=now)
            .update(redeemed_at=now, redeemed_by_id=account_id)
        )
        if not claimed:
            found.refresh_from_db()
            if found.redeemed_at is not None:
                raise RedemptionError(RedemptionError.REDEEMED, "this code was already redeemed")
            raise RedemptionError(RedemptionError.EXPIRED, "this code has expired")
        return wallet_credit(
            account_id=account_id,
            amount_micros=found.amount_micros,
            idempotency_key=f"redeem:{found.pk}",  # the id, never the code: the ledger is widely readable
            kind=LedgerEntry.Kind.REDEEM,
            note=f"code {found.prefix}…" + (f" ({found.batch})" if found.batch else ""),  # staff only
            description=found.description,
            actor=actor or f"account:{account_id}",
        )


def redemption_codes_revoke(*, ids: list[int]) -> int:
    """Expire unused codes now (a leaked batch). Redeemed ones stay as they are. Returns how many."""
    now = timezone.now()
    return (
        RedemptionCode.objects.filter(pk__in=ids, redeemed_at__isnull=True)
        .exclude(expires_at__lte=now)
        .update(expires_at=now)
    )
