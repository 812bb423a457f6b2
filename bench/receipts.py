"""What a signed receipt adds to one request, in process: building and signing the claims (Ed25519), putting
the receipt into a JSON answer (translated: a dict member; passthrough: the byte scan) and into a stream's
held tail. No database: the signing key is read at most once a minute and the kept copy is written in the
background, off the answer's path.

    .venv/bin/python bench/receipts.py [--number 20000]
"""

import argparse
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")

import django  # noqa: E402

django.setup()

import msgspec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from billing.pricing import Usage  # noqa: E402
from gateway.receipts import claims, jws  # noqa: E402
from gateway.receipts.keys import Signer  # noqa: E402
from gateway.receipts.stamp import into_json, into_stream  # noqa: E402

SIGNER = Signer("20261207-bench", Ed25519PrivateKey.generate())
USAGE = Usage(input_tokens=1200, cached_input_tokens=100, output_tokens=300, reasoning_tokens=20)


def receipt() -> str:
    stated = claims.claims(request_id="req_" + "a" * 32, account_id=42, key_prefix="sk-AbCdEfG", door="chat",
                           model="gpt-4o", price_id=7, usage=USAGE, estimated=False, cost_micros=1234,
                           balance_micros=99_000_000)  # fmt: skip
    return jws.sign(stated, SIGNER)


def chat_body(text_chars: int) -> bytes:
    return msgspec.json.encode({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "你好，世界\n" * (text_chars // 6)},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 300, "total_tokens": 312},
        "system_fingerprint": "fp_1",
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=20000)
    n = parser.parse_args().number
    signed = receipt()
    rows = [("claims + Ed25519 sign", timeit.timeit(receipt, number=n) / n)]
    for size in (2_000, 50_000):
        body = chat_body(size)
        rows.append((f"passthrough JSON stamp ({len(body)} B)", timeit.timeit(lambda body=body: into_json(body, b"usage", signed), number=n // 10) / (n // 10)))  # noqa: E501
    tail = b"event: response.completed\ndata: " + msgspec.json.encode({
        "type": "response.completed",
        "response": {"id": "resp_1", "output": [{"type": "message", "content": [{"type": "output_text", "text": "你好" * 200}]}],
                     "usage": {"input_tokens": 12, "output_tokens": 300}}}) + b"\n\n"  # fmt: skip
    rows.append((f"stream tail stamp ({len(tail)} B)", timeit.timeit(lambda: into_stream(tail, "responses", True, signed), number=n) / n))  # noqa: E501
    print(f"receipt: {len(signed)} bytes; load average {os.getloadavg()[0]:.2f}")
    for name, seconds in rows:
        print(f"{name:40s} {seconds * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
