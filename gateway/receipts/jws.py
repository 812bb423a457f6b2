"""Compact JWS (RFC 7515) with EdDSA (RFC 8037): `base64url(header).base64url(claims).base64url(signature)`.
Written out here (a dozen lines) rather than through a JWT library: one algorithm, no `alg` negotiation."""

from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.receipts.keys import Signer, b64url, b64url_decode

TYPE = "harnmodel-receipt+jwt"
ALG = "EdDSA"


class ReceiptInvalid(ValueError):
    """The text is not a receipt we signed, or something in it changed since."""


def sign(claims: dict[str, Any], signer: Signer) -> str:
    header = b64url(msgspec.json.encode({"alg": ALG, "kid": signer.kid, "typ": TYPE}))
    payload = b64url(msgspec.json.encode(claims))
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{b64url(signer.private.sign(signing_input.encode()))}"


def _part(text: str, what: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise ReceiptInvalid(f"the {what} is not base64url") from None


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise ReceiptInvalid(f"the {what} is not a JSON object")
    return value


def unverified(jws: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, not yet trusted."""
    parts = jws.strip().split(".")
    if len(parts) != 3:
        raise ReceiptInvalid("a receipt has three dot-separated parts")
    return _json(_part(parts[0], "header"), "header"), _json(_part(parts[1], "payload"), "payload")


def verify(jws: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The claims of a receipt whose signature one of `keys` (kid → public key) made. Raises ReceiptInvalid."""
    header, claims = unverified(jws)
    if header.get("alg") != ALG or header.get("typ") != TYPE:
        raise ReceiptInvalid("not a harnmodel receipt (alg or typ)")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise ReceiptInvalid(f"unknown or retired key id {header.get('kid')!r}")
    head, payload, signature = jws.strip().split(".")
    try:
        key.verify(_part(signature, "signature"), f"{head}.{payload}".encode())
    except InvalidSignature:
        raise ReceiptInvalid("the signature does not match: the receipt was changed or not signed by us") from None
    return claims
