"""Secrets at rest: API keys are HMAC'd (one-way), channel credentials are encrypted (Fernet)."""

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

KEY_PREFIX = "sk-"
_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
KEY_RANDOM_LENGTH = 48


def generate_api_key(prefix: str = KEY_PREFIX) -> str:
    """`sk-` (or another prefix: `mk-` management keys) + 48 characters from `secrets` (≈285 bits)."""
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_RANDOM_LENGTH))


def hash_api_key(secret: str) -> str:
    """What we store and look keys up by. Keyed, so a leaked table cannot be brute-forced offline."""
    return hmac.new(settings.HARNMODEL_KEY_HMAC_SECRET.encode(), secret.encode(), hashlib.sha256).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:10]


def _fernet_for(material: str) -> Fernet:
    # Any string works as configuration: it is stretched to the 32 bytes Fernet wants.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def _cipher() -> MultiFernet:
    """The current key encrypts; older keys (HARNMODEL_ENCRYPTION_KEYS_OLD) still decrypt during rotation."""
    keys = [settings.HARNMODEL_ENCRYPTION_KEY, *getattr(settings, "HARNMODEL_ENCRYPTION_KEYS_OLD", [])]
    return MultiFernet([_fernet_for(k) for k in keys])


def encrypt_secret(plain: str) -> str:
    return _cipher().encrypt(plain.encode()).decode() if plain else ""


class SecretUnreadable(Exception):
    """The stored credential cannot be decrypted with any configured key."""


def decrypt_secret(token: str) -> str:
    if not token:
        return ""
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("channel secret cannot be decrypted with the configured keys") from None


def secret_hint(plain: str) -> str:
    return f"…{plain[-4:]}" if len(plain) >= 8 else ("set" if plain else "")
