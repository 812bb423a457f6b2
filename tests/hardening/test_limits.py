"""Request limits: body size (413), input items, tools and JSON nesting depth (400), each before any work.

The depth scan runs on the raw bytes before msgspec decodes them (msgspec recurses; 100k `[` was a 500).
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import json_depth_exceeds, json_shape, parse_request


def error_of(body: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        parse_request(body)
    return raised.value


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


# -- the scan -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[[[[[[[[[["}', 1),
        ('{"a": "\\"[[[[[[[[[[[[[[["}', 1),
        ('{"a": "\\\\", "b": [[[]]]}', 4),
        ('{"a": "\\\\\\"[[[[[[[[[[[["}', 1),
        ('{"a": "]]]]]]]]]]]]]]]]]]]", "b": [[[[]]]]}', 5),
    ],
)
def test_depth_scan_ignores_brackets_inside_strings(text, depth):
    body = text.encode()
    assert json_depth_exceeds(body, depth - 1)
    assert not json_depth_exceeds(body, depth)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9', max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), children)
    ),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, limit=st.integers(min_value=0, max_value=12))
def test_depth_scan_agrees_with_the_decoded_depth(value, limit):
    body = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth_exceeds(body, limit) == (depth_of(value) > limit)


def containers_of(value) -> int:
    if isinstance(value, list):
        return 1 + sum(containers_of(item) for item in value)
    if isinstance(value, dict):
        return 1 + sum(containers_of(item) for item in value.values())
    return 0


@settings(max_examples=300, deadline=None)
@given(value=json_values, chunk=st.sampled_from([1, 2, 3, 7, 64]), limit=st.integers(min_value=0, max_value=12))
def test_the_chunked_scan_agrees_whatever_the_chunk_boundaries(value, chunk, limit):
    """The scan goes 64 KiB at a time (so a worker thread gives the GIL back); chunks of a few bytes cut through
    every escape, quote and bracket a small value has."""
    body = json.dumps(value, ensure_ascii=False).encode()
    assert (json_shape(body, limit, 10**9, chunk=chunk)[0] > limit) == (depth_of(value) > limit)
    assert (json_shape(body, 10**9, limit, chunk=chunk)[1] > limit) == (containers_of(value) > limit)


def test_too_many_arrays_and_objects_is_a_400_before_decoding(settings):
    settings.HARNMODEL_MAX_JSON_CONTAINERS = 1000
    body = b'{"model":"m","input":"x","pad":[' + b",".join([b"{}"] * 1000) + b"]}"
    error = error_of(body)  # the body itself, the pad array and 1000 objects
    assert (error.status, error.param) == (400, None) and "more than 1000 arrays and objects" in error.message
    settings.HARNMODEL_MAX_JSON_CONTAINERS = 1002
    assert parse_request(body).typed.model == "m"


# -- through the validator ------------------------------------------------------------------------------------------
def test_depth_over_the_limit_is_a_400_before_decoding(settings):
    settings.HARNMODEL_MAX_JSON_DEPTH = 8
    error = error_of(b'{"model":"m","input":' + nested(8).encode() + b"}")
    assert (error.status, error.code, error.param) == (400, "invalid_request_error", None)
    assert "deeper than 8" in error.message
    # exactly the limit passes the scan (and fails later, for its own reasons)
    assert error_of(b'{"model":"m","input":' + nested(7).encode() + b"}").param == "input[0]"


def test_depth_of_a_hundred_thousand_is_a_400_not_a_recursion_error():
    error = error_of(b'{"model":"m","input":' + nested(100_000).encode() + b"}")
    assert error.status == 400 and "deeper than 64" in error.message


def test_default_depth_allows_a_deep_tool_schema():
    schema: dict = {"type": "string"}
    for _ in range(25):  # 25 levels of properties → ~50 JSON levels
        schema = {"type": "object", "properties": {"x": schema}}
    body = {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": schema}]}
    assert parse_request(json.dumps(body).encode()).typed.tools


def test_too_many_input_items(settings):
    settings.HARNMODEL_MAX_INPUT_ITEMS = 3
    items = [{"role": "user", "content": "x"}] * 4
    error = error_of(json.dumps({"model": "m", "input": items}).encode())
    assert (error.status, error.code, error.param) == (400, "array_above_max_length", "input")
    assert parse_request(json.dumps({"model": "m", "input": items[:3]}).encode())


def test_default_input_items_limit_is_2048():
    items = [{"role": "user", "content": "x"}] * 2049
    assert error_of(json.dumps({"model": "m", "input": items}).encode()).code == "array_above_max_length"
    assert parse_request(json.dumps({"model": "m", "input": items[:2048]}).encode())


def test_too_many_tools(settings):
    settings.HARNMODEL_MAX_TOOLS = 2
    tools = [{"type": "function", "name": f"f{i}"} for i in range(3)]
    error = error_of(json.dumps({"model": "m", "input": "x", "tools": tools}).encode())
    assert (error.status, error.code, error.param) == (400, "array_above_max_length", "tools")
    assert parse_request(json.dumps({"model": "m", "input": "x", "tools": tools[:2]}).encode())


def test_default_tools_limit_is_128():
    tools = [{"type": "function", "name": f"f{i}"} for i in range(129)]
    assert error_of(json.dumps({"model": "m", "input": "x", "tools": tools}).encode()).param == "tools"


# -- over HTTP, in-process -----------------------------------------------------------------------------------------
def test_limits_answer_openai_errors_and_charge_nothing(funded, asgi, settings):
    from billing.models import Hold, LedgerEntry

    settings.HARNMODEL_MAX_INPUT_ITEMS = 2
    before = LedgerEntry.objects.count()
    cases = {
        b'{"model":"gpt-4o","input":' + nested(5000).encode() + b"}": 400,
        json.dumps({"model": "gpt-4o", "input": [{"role": "user", "content": "x"}] * 3}).encode(): 400,
        b'{"model":"gpt-4o","input":"' + b"x" * (settings.HARNMODEL_MAX_BODY_BYTES + 1) + b'"}': 413,
    }
    for body, status in cases.items():
        response = asgi.post("/v1/responses", content=body, headers=funded.auth)
        assert response.status_code == status
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert LedgerEntry.objects.count() == before
    assert not Hold.objects.exists()


# -- the lean front's own answers: header cap (431), body cap (413), its 500 ----------------------------------------
def rejected(status: int, code: str) -> float:
    from gateway.observe import metrics

    for family in metrics.REJECTED.collect():
        for found in family.samples:
            if found.name.endswith("_total") and found.labels == {"status": str(status), "code": code}:
                return found.value
    return 0.0


def assert_front_rejection(response, status: int, code: str, caplog) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code
    request_id = response.headers["x-request-id"]
    assert request_id.startswith("req_")
    assert f"{request_id} {status} rejected error={code}" in caplog.text  # the request log's line


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/responses"), ("GET", "/v1/models")])
def test_oversized_headers_get_a_431_before_any_work(funded, asgi, settings, caplog, method, path):
    from billing.models import Hold, LedgerEntry

    caplog.set_level("INFO", logger="harnmodel.request")
    settings.HARNMODEL_MAX_HEADER_BYTES = 2048
    body = {"model": "gpt-4o", "input": "hello"}
    before, entries = rejected(431, "request_header_fields_too_large"), LedgerEntry.objects.count()
    big = {**funded.auth, "x-padding": "p" * 2048}
    response = asgi.request(method, path, headers=big, json=body if method == "POST" else None)
    assert_front_rejection(response, 431, "request_header_fields_too_large", caplog)
    assert "2048 bytes" in response.json()["error"]["message"]
    assert rejected(431, "request_header_fields_too_large") == before + 1
    assert LedgerEntry.objects.count() == entries and not Hold.objects.exists()

    # just under the cap: served as usual
    fits = {**funded.auth, "x-padding": "p" * 1024}
    ok = asgi.request(method, path, headers=fits, json=body if method == "POST" else None)
    assert ok.status_code == 200, ok.text[:300]


def test_default_header_cap_is_16_kib(settings):
    assert settings.HARNMODEL_MAX_HEADER_BYTES == 16 * 1024


def test_the_fronts_413_has_a_request_id_and_is_logged_and_counted(funded, asgi, settings, caplog):
    caplog.set_level("INFO", logger="harnmodel.request")
    before = rejected(413, "request_too_large")
    body = b'{"model":"gpt-4o","input":"' + b"x" * (settings.HARNMODEL_MAX_BODY_BYTES + 1) + b'"}'
    response = asgi.post("/v1/responses", content=body, headers=funded.auth)
    assert_front_rejection(response, 413, "request_too_large", caplog)
    assert rejected(413, "request_too_large") == before + 1


def test_the_fronts_500_has_a_request_id_and_is_logged_and_counted(funded, asgi, caplog, monkeypatch):
    from harnmodel.asgi import gateway_application

    caplog.set_level("INFO", logger="harnmodel.request")
    assert asgi.post("/v1/responses", json={"model": "gpt-4o", "input": "warm"}, headers=funded.auth).is_success

    async def broken(request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway_application, "_handler", broken)
    before = rejected(500, "internal_error")
    response = asgi.post("/v1/responses", json={"model": "gpt-4o", "input": "hi"}, headers=funded.auth)
    assert_front_rejection(response, 500, "internal_error", caplog)
    assert rejected(500, "internal_error") == before + 1


def test_answers_refused_before_the_pipeline_still_carry_a_request_id(funded, asgi, caplog):
    caplog.set_level("INFO", logger="harnmodel.request")
    headers = {**funded.auth, "idempotency-key": "k" * 256}
    response = asgi.post("/v1/responses", json={"model": "gpt-4o", "input": "hi"}, headers=headers)
    assert_front_rejection(response, 400, "invalid_request_error", caplog)
