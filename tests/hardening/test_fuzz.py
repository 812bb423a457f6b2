"""Fuzzing POST /v1/responses in-process: the real ASGI application (harnmodel.asgi.application), a committed
database, one simulator channel and a funded key.

* schemathesis generates requests from our OpenAPI document (valid ones, and ones that break it) and checks
  each answer against the document: never a 5xx, only documented statuses and content types, bodies that
  match their schemas (the Response, the SSE events, the OpenAI error shape).
* hypothesis posts raw bodies the document cannot describe: wrong types, huge strings, deep nesting, invalid
  UTF-8, duplicate keys, giant arrays, NaN/Infinity/huge/negative numbers as raw JSON text, unknown item
  types. Never a 5xx; every error is exactly `{"error": {message, type, param, code}}`; a 4xx charges nothing.
* every provider adapter builds its upstream request for any body the validator accepts, or refuses it with a
  4xx ApiError: after the hold, anything else would be a 500.

Bounded (max_examples 200 each, deadline None) so this file stays under a minute. HARNMODEL_FUZZ_EXAMPLES
raises the bound for a longer local run; the counts are printed at the end (`-s`).
"""

import json
import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.models import Hold, LedgerEntry
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.protocols.registry import get_adapter
from gateway.relay import field_policy
from gateway.wire.errors import ApiError
from gateway.wire.schema import parse_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.hardening.urls")]

EXAMPLES = int(os.environ.get("HARNMODEL_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis example files written by a CI run
    suppress_health_check=list(HealthCheck),
)
ERROR_KEYS = {"message", "type", "param", "code"}
STATS: dict[str, Counter] = {
    "schemathesis POST /v1/responses": Counter(),
    "schemathesis GET /v1/models": Counter(),
    "hypothesis raw bodies": Counter(),
}


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    for name, counts in STATS.items():
        if counts:
            statuses = ", ".join(
                f"{status}: {counts[status]}" for status in sorted(k for k in counts if isinstance(k, int))
            )
            print(f"\n[fuzz] {name}: {counts['cases']} cases, {counts['5xx']} 5xx ({statuses})")


def check_error_shape(status: int, content_type: str, body: bytes) -> None:
    assert content_type.startswith("application/json"), content_type
    data = json.loads(body)
    assert set(data) == {"error"}, data
    error = data["error"]
    assert set(error) == ERROR_KEYS, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)


def charged(request_id: str | None) -> bool:
    """Whether the request was charged. Every answer must name its request id: without one we could not tell."""
    assert request_id, "an answer without x-request-id"
    return LedgerEntry.objects.filter(request_id=request_id, kind=LedgerEntry.Kind.CHARGE).exists()


def about_state(error: dict) -> bool:
    """400s a schema-valid request earns from server state, which no document can describe: an Idempotency-Key
    already used with another body (schemathesis repeats keys), a previous_response_id this gateway never issued."""
    return error["code"] == "idempotency_key_reused" or error["param"] == "previous_response_id"


def about_policy(error: dict, body: dict) -> bool:
    """400s a schema-valid request earns from the operator's field policy (gateway/relay/field_policy.py), which the
    document describes in words: a gated field, hosted tool or private URL no channel of the model allows.
    Only what the policy itself names for this body counts, so a typed field refused by mistake still fails."""
    if error["code"] == "url_not_allowed":
        return True
    try:
        needs = field_policy.requirements(body)
    except ApiError:
        return False
    named = {param for _, param in needs.fields + needs.tools} | {flagged.param for flagged in needs.urls}
    return error["code"] == "unsupported_parameter" and error["param"] in named


# -- schemathesis: the document against the running app ----------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/responses"), ("GET", "/v1/models")])
def test_schemathesis_finds_no_5xx_and_no_contract_break(funded, method, path):
    from django.urls import Resolver404, resolve

    from harnmodel.asgi import application

    try:
        resolve(path)
    except Resolver404:
        pytest.skip(f"{method} {path} is documented but not routed yet")
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", application)
    # The key is ours to send (below, on 9 cases in 10): schemathesis' own auth headers would make most
    # negative cases plain 401s that never reach the validator.
    schema.config.generation.update(with_security_parameters=False)
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE).map(lambda case: (case, True)),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE).map(lambda case: (case, False)),
    )
    stats = STATS[f"schemathesis {method} {path}"]

    @FUZZ
    # hypothesis leans towards small integers: "n != k" keeps the common case common.
    @given(
        generated=cases,
        served_model=st.integers(0, 3).map(lambda n: n != 3),
        authorized=st.integers(0, 9).map(lambda n: n != 9),
    )
    def run(generated, served_model, authorized):
        case, valid = generated
        # Valid bodies naming the served model walk the whole pipeline to the simulator and back.
        served = valid and served_model and authorized and isinstance(case.body, dict)
        if served:
            case.body["model"] = "gpt-4o"
        headers = {"authorization": f"Bearer {funded.key}"} if authorized else {}
        response = case.call(headers=headers)
        stats["cases"] += 1
        stats[response.status_code] += 1
        stats["5xx"] += response.status_code >= 500
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
            headers=headers,
        )
        if response.status_code >= 400:
            check_error_shape(response.status_code, response.headers["content-type"][0], response.content)
            if method == "POST":  # a GET charges nothing (and /v1/models answers carry no request id)
                request_id = response.headers.get("x-request-id", [None])[0]
                assert request_id, (response.status_code, case.headers, response.content[:300])
                assert not charged(request_id)
            # A body the document calls valid must not be refused as invalid: the contract and the validator drifted.
            error = json.loads(response.content)["error"]
            drifted = (
                served
                and error["type"] == "invalid_request_error"
                and not about_state(error)
                and not about_policy(error, case.body)
            )
            assert not drifted, (case.body, case.headers, error)

    run()


# -- hypothesis: raw bodies --------------------------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
FIELDS = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "stream",
    "temperature",
    "top_p",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "text",
    "user",
    "reasoning",
    "store",
    "include",
    "truncation",
    "previous_response_id",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
    "top_logprobs",
]
VALID = {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
RAW_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "-1",
    "-2147483649",
    "18446744073709551616",
    "1" + "0" * 400,
    "0.5e",
    "01",
    "+1",
]
ITEM_KEYS = ["type", "role", "content", "call_id", "name", "arguments", "output", "id", "summary", "text"]


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def wrong_types(draw) -> bytes:
    body = dict(VALID, stream=draw(st.booleans()))
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True)):
        body[name] = draw(json_values)
    return dumps(body)


@st.composite
def huge_strings(draw) -> bytes:
    size = draw(st.sampled_from([10_000, 100_000, 1_000_000, 3_000_000]))
    piece = draw(st.sampled_from(["x", "你", "\\", '"', "\u0000", "\U0001f600", "sk-"]))
    where = draw(st.sampled_from(["model", "input", "instructions", "text", "key", "tool"]))
    big = piece * (size // len(piece.encode()))
    body = dict(VALID)
    if where == "text":
        body["input"] = [{"role": "user", "content": [{"type": "input_text", "text": big}]}]
    elif where == "key":
        body["metadata"] = {big: "v"}
    elif where == "tool":
        body["tools"] = [{"type": "function", "name": big}]
    else:
        body[where] = big
    return dumps(body)


@st.composite
def deep_nesting(draw) -> bytes:
    depth = draw(st.integers(min_value=1, max_value=200_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('[{"k":', "}]")]))
    where = draw(st.sampled_from(["input", "tools", "metadata", "text", "unknown_field", "content"]))
    nested = opener * depth + "1" + closer * draw(st.sampled_from([depth, max(0, depth - 1)]))
    if where == "content":
        return ('{"model":"gpt-4o","input":[{"role":"user","content":' + nested + "}]}").encode()
    return ('{"model":"gpt-4o","input":"hi","' + where + '":' + nested + "}").encode()


@st.composite
def invalid_utf8(draw) -> bytes:
    body = bytearray(dumps(dict(VALID, instructions="abcdefgh")))
    junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]))
    at = draw(st.integers(min_value=0, max_value=len(body)))
    body[at:at] = junk
    if draw(st.booleans()):
        body = bytearray(draw(st.binary(max_size=64)))
    return bytes(body)


@st.composite
def duplicate_keys(draw) -> bytes:
    first, second = draw(json_values), draw(json_values)
    key = draw(st.sampled_from(["model", "input", "stream", "tools", "max_output_tokens", "type", "role"]))
    if key in ("type", "role"):
        item = f'{{"role":"user","content":"hi","{key}":{json.dumps(first)},"{key}":{json.dumps(second)}}}'
        return f'{{"model":"gpt-4o","input":[{item}]}}'.encode()
    return f'{{"model":"gpt-4o","input":"hi","{key}":{json.dumps(first)},"{key}":{json.dumps(second)}}}'.encode()


@st.composite
def giant_arrays(draw) -> bytes:
    count = draw(st.sampled_from([2047, 2048, 2049, 5000, 20_000]))
    where = draw(st.sampled_from(["input", "parts", "tools", "include", "metadata", "output"]))
    body = dict(VALID)
    if where == "input":
        body["input"] = [{"role": "user", "content": "x"}] * count
    elif where == "parts":
        body["input"] = [{"role": "user", "content": [{"type": "input_text", "text": "x"}] * count}]
    elif where == "tools":
        body["tools"] = [{"type": "function", "name": f"f{i}"} for i in range(count // 16)]
    elif where == "include":
        body["include"] = ["reasoning.encrypted_content"] * count
    elif where == "metadata":
        body["metadata"] = {f"k{i}": "v" for i in range(count // 100)}
    else:
        body["input"] = [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_text"}] * count}]
    return dumps(body)


@st.composite
def raw_numbers(draw) -> bytes:
    field = draw(st.sampled_from(["temperature", "top_p", "max_output_tokens", "top_logprobs", "stream", "model"]))
    number = draw(st.sampled_from(RAW_NUMBERS) | st.integers(-(2**80), 2**80).map(str))
    return f'{{"model":"gpt-4o","input":"hi","{field}":{number}}}'.encode()


@st.composite
def unknown_items(draw) -> bytes:
    known = ["message", "function_call", "function_call_output", "reasoning", "item_reference"]
    kind = draw(st.sampled_from(known) | st.text(max_size=20) | json_values)
    item = {"type": kind}
    for key in draw(st.lists(st.sampled_from(ITEM_KEYS), max_size=5, unique=True)):
        item[key] = draw(json_values | st.sampled_from(["user", "assistant", "input_text"]))
    if draw(st.booleans()):
        item.pop("type")
    return dumps({"model": "gpt-4o", "input": [item], "stream": draw(st.booleans())})


RAW_BODIES = st.one_of(
    wrong_types(),
    huge_strings(),
    deep_nesting(),
    invalid_utf8(),
    duplicate_keys(),
    giant_arrays(),
    raw_numbers(),
    unknown_items(),
)


def test_raw_bodies_never_5xx_and_4xx_charge_nothing(funded, asgi):
    stats = STATS["hypothesis raw bodies"]

    @FUZZ
    @given(body=RAW_BODIES)
    def run(body):
        response = asgi.post("/v1/responses", content=body, headers={**funded.auth, "content-type": "application/json"})
        stats["cases"] += 1
        stats[response.status_code] += 1
        stats["5xx"] += response.status_code >= 500
        assert response.status_code < 500, response.text[:500]
        if response.status_code >= 400:
            check_error_shape(response.status_code, response.headers["content-type"], response.content)
            assert not charged(response.headers.get("x-request-id"))

    run()
    asgi.settled()
    assert not Hold.objects.filter(status=Hold.Status.OPEN).exists()


# -- every adapter, on every body the validator accepts ----------------------------------------------------------------
# After the hold, an adapter that raises anything but an ApiError is a 500 (released, but a 500). The simulator runs
# above; the translating adapters are pure up to their request, so they are fuzzed here without an upstream.
PART_TYPES = ["input_text", "input_image", "input_file", "input_audio", "output_text", "refusal"]
PART_KEYS = ["text", "image_url", "file_id", "file_data", "file_url", "filename", "detail", "input_audio", "refusal"]
content_parts = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(PART_TYPES),
    st.dictionaries(st.sampled_from(PART_KEYS), json_values | st.text(max_size=20), max_size=4),
)
accepted_items = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "developer"]),
            "content": st.text() | st.lists(content_parts, max_size=3),
        },
        optional={"type": st.just("message"), "id": json_values, "status": json_values},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("function_call"),
            "call_id": st.text(max_size=30),
            "name": st.text(max_size=10),
            "arguments": st.text(max_size=30),
        },
        optional={"id": json_values},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("function_call_output"),
            "call_id": st.text(max_size=30),
            "output": st.text() | st.lists(content_parts, max_size=3),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("reasoning")},
        optional={
            "summary": st.lists(st.dictionaries(st.sampled_from(["type", "text"]), json_values)),
            "encrypted_content": json_values,
        },
    ),
    st.fixed_dictionaries({"type": st.just("item_reference"), "id": st.text(max_size=10)}),
)
accepted_tools = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("function"), "name": st.from_regex(r"\A[A-Za-z0-9_-]{1,10}\Z")},
        optional={"parameters": st.none() | st.dictionaries(st.text(max_size=5), json_values), "strict": json_values},
    ),
    st.fixed_dictionaries({"type": st.text(max_size=12)}, optional={"name": json_values}),
)
accepted_bodies = st.fixed_dictionaries(
    {"model": st.just("m"), "input": st.text(min_size=1) | st.lists(accepted_items, min_size=1, max_size=4)},
    optional={
        "instructions": st.text(),
        "tools": st.lists(accepted_tools, max_size=3),
        "tool_choice": st.sampled_from(["auto", "none", "required"])
        | st.fixed_dictionaries(
            {"type": st.sampled_from(["function", "auto", "required", "none", "allowed_tools", "web_search"])},
            optional={
                "name": st.text(max_size=10),
                "mode": st.sampled_from(["auto", "required"]),
                "tools": json_values,
            },
        ),
        "text": st.fixed_dictionaries(
            {},
            optional={
                "format": st.fixed_dictionaries(
                    {"type": st.sampled_from(["text", "json_object", "json_schema"])},
                    optional={"name": st.text(max_size=5), "schema": st.dictionaries(st.text(max_size=5), json_values)},
                ),
                "verbosity": json_values,
            },
        ),
        "reasoning": st.dictionaries(st.sampled_from(["effort", "summary", "generate_summary"]), json_values),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_output_tokens": st.integers(1, 10**6),
        "stream": st.booleans(),
        "parallel_tool_calls": st.booleans(),
        "include": st.lists(st.text(max_size=10)),
        "truncation": st.text(max_size=8),
        "previous_response_id": st.text(max_size=20),
        "top_logprobs": st.integers(0, 20),
    },
)
GEMINI_AUDIO = {"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": "x"}]}]}


@pytest.mark.parametrize(
    "kind",
    [
        "openai_responses",
        "openai_chat",
        "anthropic",
        "gemini",
        "simulator",
    ],
)
def test_adapters_answer_accepted_bodies_or_refuse_them_cleanly(kind):
    adapter = get_adapter(kind)

    @FUZZ
    @example(body=GEMINI_AUDIO)
    @given(body=accepted_bodies)
    def run(body):
        try:
            parsed = parse_request(json.dumps(body).encode())
        except ApiError:
            return
        ctx = CallContext(
            request_id="req_fuzz",
            response_id="resp_fuzz",
            public_model="m",
            upstream_model="upstream-m",
            base_url="http://upstream.invalid/v1",
            secret="s",
            stream=parsed.typed.stream,
            max_output_tokens=100,
            created_at=1,
        )
        try:
            adapter.build_request(parsed, ctx)
        except (ApiError, UpstreamError) as refused:
            assert 400 <= refused.status < 500

    run()
