"""Receipt signing keys: Ed25519, made on first use (or by `manage.py receipt_keys`), the private half
encrypted at rest with the gateway's secret cipher. Only the newest unretired key signs; every unretired
key is published, so a rotation never breaks receipts already handed out."""

import base64
import secrets
import threading
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.conf import settings
from django.utils import timezone

from billing.db import run_db
from billing.models import ReceiptKey
from gateway.crypto import decrypt_secret, encrypt_secret


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Signer:
    kid: str
    private: Ed25519PrivateKey


_cached: tuple[float, Signer] | None = None
_create_lock = threading.Lock()  # one process makes at most one first key


def forget() -> None:
    """Drop this process's cached signer (after a rotation, in tests)."""
    global _cached
    _cached = None


def key_create() -> ReceiptKey:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = f"{timezone.now():%Y%m%d}-{secrets.token_hex(4)}"
    key = ReceiptKey.objects.create(
        kid=kid, public_key=b64url(public), private_key_encrypted=encrypt_secret(b64url(raw))
    )
    forget()
    return key


def key_retire(kid: str) -> bool:
    """Stop publishing (and trusting) a key, e.g. one that leaked. Receipts it signed stop verifying."""
    done = ReceiptKey.objects.filter(kid=kid, retired_at__isnull=True).update(retired_at=timezone.now())
    forget()
    return bool(done)


def _newest() -> ReceiptKey | None:
    return ReceiptKey.objects.filter(retired_at__isnull=True).order_by("-created_at", "-id").first()


def _load() -> Signer:
    key = _newest()
    if key is None:
        with _create_lock:
            # Two processes may both make a first key: both are published and the newest signs from then on.
            key = _newest() or key_create()
    private = Ed25519PrivateKey.from_private_bytes(b64url_decode(decrypt_secret(key.private_key_encrypted)))
    return Signer(kid=key.kid, private=private)


def _fresh() -> Signer | None:
    # A rotation reaches every worker within HARNMODEL_RECEIPT_KEY_CACHE_SECONDS; until then a worker signs
    # with the previous key, which stays published, so its receipts verify all the same.
    if _cached is not None and time.monotonic() - _cached[0] < settings.HARNMODEL_RECEIPT_KEY_CACHE_SECONDS:
        return _cached[1]
    return None


def signer_sync() -> Signer:
    global _cached
    signer = _fresh()
    if signer is None:
        signer = _load()
        _cached = (time.monotonic(), signer)
    return signer


async def signer() -> Signer:
    """The key to sign with; a database read at most once a minute per process."""
    cached = _fresh()
    return cached if cached is not None else await run_db(signer_sync)


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every published key by kid: what a receipt may be verified with."""
    return {
        kid: Ed25519PublicKey.from_public_bytes(b64url_decode(public))
        for kid, public in ReceiptKey.objects.filter(retired_at__isnull=True).values_list("kid", "public_key")
    }


def jwks() -> dict:
    """The published keys as a JSON Web Key Set (RFC 8037: OKP, Ed25519)."""
    keys = ReceiptKey.objects.filter(retired_at__isnull=True).order_by("-created_at", "-id")
    return {
        "keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid, "alg": "EdDSA", "use": "sig"}
            for key in keys
        ]
    }
