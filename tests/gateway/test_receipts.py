"""Signed receipts, in process: a receipt verifies with the published key and fails when any claim is
changed; keys rotate (old receipts keep verifying, only the newest signs) and are encrypted at rest;
`receipt_verify` checks signature and ledger; the docs' Python and Node samples verify a real receipt."""

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import AsyncClient

from billing.db import run_db
from billing.models import LedgerEntry, Receipt, ReceiptKey
from gateway.receipts import keys
from gateway.receipts.check import check, keys_of_jwks
from gateway.receipts.jws import ReceiptInvalid, sign, verify
from gateway.receipts.stamp import into_json
from tests.conftest import relay_settled

pytestmark = pytest.mark.django_db(transaction=True)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


@pytest.fixture(autouse=True)
def _no_cached_signer():
    keys.forget()
    yield
    keys.forget()


async def _billed(key: str, **body) -> tuple:
    answer = await AsyncClient().post(
        "/v1/responses", data=json.dumps({"model": "gpt-4o", "input": "总结一下接入步骤", **body}),
        content_type="application/json", headers={"authorization": f"Bearer {key}"})  # fmt: skip
    await relay_settled()
    assert answer.status_code == 200, answer.content
    return answer, answer["x-harnmodel-receipt"]


def _jwks() -> dict:
    from django.test import Client

    return Client().get("/.well-known/harnmodel-receipts.json").json()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _changed(receipt: str, claims: dict) -> str:
    header, _, signature = receipt.split(".")
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _leaves(value, path=()):
    if isinstance(value, dict) and value:
        for name, inner in value.items():
            yield from _leaves(inner, (*path, name))
    else:
        yield path, value


def _set(claims: dict, path: tuple, value) -> dict:
    copy = json.loads(json.dumps(claims))
    target = copy
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    return copy


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "charge:req_other"
    if isinstance(value, str):
        return value + "x"
    return {"x": 1}


async def test_a_receipt_verifies_with_the_published_key_and_fails_when_any_claim_changes(catalog, alice):
    answer, receipt = await _billed(alice.key)
    published = keys_of_jwks(await run_db(_jwks))
    claims = verify(receipt, published)
    assert claims["request_id"] == answer["x-request-id"]
    leaves = list(_leaves(claims))
    assert len(leaves) >= 17  # every claim, nested token counts included
    for path, value in leaves:
        with pytest.raises(ReceiptInvalid, match="signature"):
            verify(_changed(receipt, _set(claims, path, _other(value))), published)
    header, payload, signature = receipt.split(".")
    forged = f"{header}.{payload}.{_b64(bytes(64))}"
    with pytest.raises(ReceiptInvalid):
        verify(forged, published)
    with pytest.raises(ReceiptInvalid, match="alg or typ"):
        verify(f"{_b64(json.dumps({'alg': 'none', 'kid': 'x'}).encode())}.{payload}.", published)
    with pytest.raises(ReceiptInvalid):  # the signature covers the bytes: even the same claims re-encoded fail
        verify(_changed(receipt, claims), published)


async def test_rotation_keeps_old_receipts_verifying_and_only_the_newest_signs(catalog, alice):
    _, first = await _billed(alice.key)
    old_kid = json.loads(base64.urlsafe_b64decode(first.split(".")[0] + "=="))["kid"]
    out = io.StringIO()
    await run_db(call_command, "receipt_keys", "rotate", stdout=out)
    new_kid = re.search(r"new signing key (\S+)", out.getvalue()).group(1)
    _, second = await _billed(alice.key)
    assert json.loads(base64.urlsafe_b64decode(second.split(".")[0] + "=="))["kid"] == new_kid != old_kid
    jwks = await run_db(_jwks)
    assert [key["kid"] for key in jwks["keys"]] == [new_kid, old_kid]
    assert all(set(key) == {"kty", "crv", "x", "kid", "alg", "use"} and key["kty"] == "OKP" for key in jwks["keys"])
    published = keys_of_jwks(jwks)
    verify(first, published) and verify(second, published)
    await run_db(call_command, "receipt_keys", "retire", old_kid, stdout=io.StringIO())
    with pytest.raises(ReceiptInvalid, match="unknown or retired"):
        verify(first, keys_of_jwks(await run_db(_jwks)))


def test_the_private_key_is_encrypted_at_rest(db):
    signer = keys.signer_sync()
    stored = ReceiptKey.objects.get(kid=signer.kid)
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = _b64(signer.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    assert raw not in stored.private_key_encrypted and stored.private_key_encrypted.startswith("gAAAA")  # Fernet
    assert keys.signer_sync().kid == signer.kid  # made once, then reused


async def test_receipt_verify_checks_the_signature_and_the_ledger(catalog, alice, monkeypatch):
    answer, receipt = await _billed(alice.key)
    out = io.StringIO()
    await run_db(call_command, "receipt_verify", receipt, stdout=out)
    assert "receipt valid" in out.getvalue() and answer["x-request-id"] in out.getvalue()
    monkeypatch.setattr("sys.stdin", io.StringIO(receipt + "\n"))  # `-` or nothing: read from stdin
    await run_db(call_command, "receipt_verify", stdout=io.StringIO())
    claims = verify(receipt, keys_of_jwks(await run_db(_jwks)))
    with pytest.raises(CommandError, match="INVALID"):
        await run_db(call_command, "receipt_verify", _changed(receipt, {**claims, "cost_micros": 1}),
                     stdout=io.StringIO())  # fmt: skip
    # A genuine signature over a charge the ledger does not hold: another amount, or no entry at all.
    signer = await keys.signer()
    for wrong in ({**claims, "cost_micros": claims["cost_micros"] + 1}, {**claims, "ledger_entry": "charge:req_x"}):
        signed = sign(wrong, signer)
        with pytest.raises(CommandError, match="ledger disagrees"):
            await run_db(call_command, "receipt_verify", signed, stdout=io.StringIO())
        assert not (await run_db(check, signed)).ok
    assert await run_db(lambda: LedgerEntry.objects.filter(request_id=claims["request_id"]).count()) == 1


async def test_the_receipt_is_kept_for_the_portal(catalog, alice):
    answer, receipt = await _billed(alice.key, stream=False)
    stored = await run_db(lambda: Receipt.objects.get(request_id=answer["x-request-id"]))
    assert stored.jws == receipt and stored.account_id == alice.account.pk


def _sample(language: str) -> str:
    [code] = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)
    return code


async def test_the_docs_python_sample_verifies_a_real_receipt(catalog, alice):
    _, receipt = await _billed(alice.key)
    jwks = await run_db(_jwks)
    namespace: dict = {}
    exec(compile(_sample("python"), "docs/receipts.md", "exec"), namespace)  # noqa: S102  (our own docs)
    claims = namespace["verify_receipt"](receipt, jwks)
    assert claims["cost_micros"] > 0
    with pytest.raises(ValueError):
        namespace["verify_receipt"](_changed(receipt, {**claims, "cost_micros": 0}), jwks)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_the_docs_node_sample_verifies_a_real_receipt(catalog, alice, tmp_path):
    _, receipt = await _billed(alice.key)
    jwks = await run_db(_jwks)
    claims = verify(receipt, keys_of_jwks(jwks))
    (tmp_path / "sample.js").write_text(_sample("javascript"))
    script = (
        "const { verifyReceipt } = require('./sample.js');"
        "const [receipt, jwks] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "let tampered = 'ok'; try { verifyReceipt(receipt.replace(/\\.[^.]+\\./, '.' + "
        "Buffer.from('{\"cost_micros\":0}').toString('base64url') + '.'), jwks); tampered = 'accepted'; }"
        " catch (e) { tampered = 'refused'; }"
        "console.log(JSON.stringify({ claims: verifyReceipt(receipt, jwks), tampered }));"
    )
    done = subprocess.run(["node", "-e", script], input=json.dumps([receipt, jwks]), capture_output=True,
                          text=True, cwd=tmp_path, timeout=30, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    assert result == {"claims": claims, "tampered": "refused"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a":"}{","usage":{"x":1},"b":{"usage":{}}}', b'{"a":"}{","usage":{"x":1,"receipt":"R"},"b":{"usage":{}}}'),
        (b'{"b":{"usage":{"y":2}}, "usage" : { } }', b'{"b":{"usage":{"y":2}}, "usage" : { "receipt":"R"} }'),
        (b'{"s":"\\"usage\\":{","usage":{"d":{"e":[1,{"f":2}]}}}', b'{"s":"\\"usage\\":{","usage":{"d":{"e":[1,{"f":2}]},"receipt":"R"}}'),
        (b'{"usage":{"a":1},"fp":"x","x":[{"y":"}"}]}', b'{"usage":{"a":1,"receipt":"R"},"fp":"x","x":[{"y":"}"}]}'),
        (b'{"usage":{"a":1},"m":{"k\\"usage":{"z":1}}}', b'{"usage":{"a":1,"receipt":"R"},"m":{"k\\"usage":{"z":1}}}'),
        (b'{"usage":{"a":1},"m":{"usage":{"z":1}}}', b'{"usage":{"a":1,"receipt":"R"},"m":{"usage":{"z":1}}}'),
        (b'{"usage":null}', b'{"usage":null}'),
        (b'{"choices":[]}', b'{"choices":[]}'),
    ],
)
def test_the_receipt_goes_into_the_top_level_usage_object_and_nowhere_else(body, expected):
    assert into_json(body, b"usage", "R") == expected
    if expected != body:
        assert json.loads(expected)["usage"]["receipt"] == "R"


async def test_concurrent_answers_keep_every_receipt_in_one_batch(catalog, alice):
    import asyncio

    async def post():
        return await AsyncClient().post("/v1/responses", data=json.dumps({"model": "gpt-4o", "input": "hi"}),
                                        content_type="application/json",
                                        headers={"authorization": f"Bearer {alice.key}"})  # fmt: skip

    answers = await asyncio.gather(*[post() for _ in range(8)])
    await relay_settled()
    sent = {answer["x-request-id"]: answer["x-harnmodel-receipt"] for answer in answers}
    kept = await run_db(lambda: dict(Receipt.objects.values_list("request_id", "jws")))
    assert kept == sent and len(sent) == 8
