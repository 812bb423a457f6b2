"""Verifying a receipt on our side: the signature against the published keys, then the books — the
charge it names must be in the ledger, for the same account, request and amount."""

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from billing.models import LedgerEntry
from gateway.receipts import keys
from gateway.receipts.jws import ReceiptInvalid, verify
from gateway.receipts.keys import b64url_decode


@dataclass
class Checked:
    claims: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # the signature holds but the books disagree

    @property
    def ok(self) -> bool:
        return not self.problems


def keys_of_jwks(jwks: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """A JWKS (ours, fetched or saved) → kid → public key; keys of other types are skipped."""
    out = {}
    for key in jwks.get("keys") or ():
        if isinstance(key, dict) and key.get("kty") == "OKP" and key.get("crv") == "Ed25519":
            try:
                out[str(key.get("kid"))] = Ed25519PublicKey.from_public_bytes(b64url_decode(str(key.get("x"))))
            except ValueError:
                continue
    return out


def check(receipt: str, public: dict[str, Ed25519PublicKey] | None = None) -> Checked:
    """Raises ReceiptInvalid when the signature fails; otherwise the claims and any disagreement with the ledger."""
    claims = verify(receipt, keys.public_keys() if public is None else public)
    checked = Checked(claims=claims)
    entry_key, cost = claims.get("ledger_entry"), claims.get("cost_micros")
    if not entry_key:
        if cost:
            checked.problems.append("the receipt states a cost but names no ledger entry")
        return checked
    entry = LedgerEntry.objects.filter(idempotency_key=entry_key).select_related("wallet").first()
    if entry is None:
        checked.problems.append(f"no ledger entry {entry_key!r}")
        return checked
    if -entry.amount_micros != cost:
        checked.problems.append(f"the ledger charged {-entry.amount_micros} micros, the receipt says {cost}")
    if entry.wallet.account_id != claims.get("account"):
        checked.problems.append("the ledger entry belongs to another account")
    if entry.request_id != claims.get("request_id"):
        checked.problems.append("the ledger entry is for another request")
    return checked


__all__ = ["Checked", "ReceiptInvalid", "check", "keys_of_jwks"]
