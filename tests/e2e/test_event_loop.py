"""L5: nothing CPU-heavy on the event loop. On the real server (uvicorn, one worker), a 15 MB body is decoded,
validated and token-counted in the CPU pool (gateway/relay/offload.py) while small requests keep being answered.

The bound is relative, so a loaded 2-core machine cannot fail it: the big body's work is first timed inline in
this process (what the loop was blocked for before: ~1.7 s here). Small requests sent while the big one is in
flight must each finish in well under half that. A key with nothing to pay with is refused before any of it.
"""

import json
import threading
import time

import httpx
import pytest

from gateway.models import ApiKey
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens
from tests.e2e.conftest import serve_model
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)
# ≈ 15 MB in ten messages (one string may hold at most HARNMODEL_MAX_TEXT_CHARS), ~1.5 s of token counting
BIG_INPUT = [{"role": "user", "content": "hello world, this is text. " * 55_000} for _ in range(10)]


def _small(client: httpx.Client, key: str) -> float:
    started = time.perf_counter()
    response = client.post(
        "/v1/responses", headers={"authorization": f"Bearer {key}"}, json={"model": "gpt-4o", "input": "hi"}
    )
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


def test_a_big_body_does_not_hold_up_small_requests(gateway, upstream, http):
    serve_model("simulator", upstream)
    _, small_key = make_customer("small@example.com", balance="100")
    big_account, big_key = make_customer("big@example.com", balance="1000")
    # The big request stops at its TPM limit, after every CPU-heavy step and before any hold or upstream.
    ApiKey.objects.filter(account=big_account).update(tpm_limit=1000)
    body = json.dumps({"model": "gpt-4o", "input": BIG_INPUT}).encode()

    started = time.perf_counter()
    count_request_tokens(parse_request(body).typed)
    inline = time.perf_counter() - started  # how long the loop stood still before the fix
    baseline = sorted(_small(http, small_key) for _ in range(5))[2]

    outcome: dict = {}

    def send_big() -> None:
        with httpx.Client(base_url=gateway.url, timeout=60) as big:
            begun = time.perf_counter()
            response = big.post("/v1/responses", headers={"authorization": f"Bearer {big_key}"}, content=body)
            outcome.update(response=response, seconds=time.perf_counter() - begun)

    thread = threading.Thread(target=send_big)
    thread.start()
    latencies = []
    while thread.is_alive():
        latencies.append(_small(http, small_key))
    thread.join()

    response = outcome["response"]
    assert response.status_code == 429, response.text  # it was admitted this far: parsed and counted
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert len(latencies) >= 3, (latencies, outcome["seconds"])  # small requests really overlapped the big one
    worst = max(latencies)
    assert worst < max(inline / 2, 5 * baseline), (
        f"a small request waited {worst:.3f} s while a 15 MB body was processed; inline work takes {inline:.3f} s, "
        f"a small request alone {baseline:.3f} s"
    )


def test_a_key_that_cannot_pay_is_refused_before_the_body_is_parsed(gateway, upstream, http):
    serve_model("simulator", upstream)
    _, empty_key = make_customer("empty@example.com", balance="0")
    garbage = b"{" + b"x" * (15 * 1024 * 1024)  # not JSON: parsing it would be a 400
    response = http.post("/v1/responses", headers={"authorization": f"Bearer {empty_key}"}, content=garbage)
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "insufficient_balance"
