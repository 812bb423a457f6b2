"""The Gemini door against golden fixtures, read back by the official google-genai SDK.

Golden files live in tests/protocols/golden/gemini/: requests/<case>.json (the URL's model path, its query
and the client's body) → <case>.expected.json (the internal body, stream flag, model and extras);
streams/<case>.events.json (a Responses event sequence made by gateway.wire.responses.ResponseStreamBuilder)
→ <case>.sse (the `alt=sse` bytes), <case>.array.json (the JSON-array stream bytes) and <case>.gemini.json
(the generateContent answer for the terminal event's response).
Set GEMINI_DOOR_GOLDEN_UPDATE=1 to rewrite the expected files, then review the diff.
"""

import json
import os

import msgspec
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from gateway.protocols.door import DoorRequest
from gateway.wire.schema import parse_request

from .gemini_support import (
    GOLDEN,
    MODEL,
    door,
    golden_events,
    parse_golden,
    render_stream,
    sdk_client,
    terminal_response,
)
from .golden_files import check_bytes, check_json, load

UPDATE = os.environ.get("GEMINI_DOOR_GOLDEN_UPDATE") == "1"
REQUESTS = sorted(p.stem for p in (GOLDEN / "requests").glob("*.json") if not p.stem.endswith(".expected"))
STREAMS = sorted(p.name.removesuffix(".events.json") for p in (GOLDEN / "streams").glob("*.events.json"))
ANSWERS = [case for case in STREAMS if case != "failed"]


# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REQUESTS)
def test_request_golden(case):
    parsed = parse_golden(case)
    actual = {"body": parsed.body, "stream": parsed.stream, "model": parsed.model, "extras": parsed.extras}
    check_json(GOLDEN / "requests" / f"{case}.expected.json", actual, update=UPDATE)
    # The internal form the door makes is one the pipeline accepts as it is.
    internal = parse_request(msgspec.json.encode(parsed.body))
    assert internal.typed.model == parsed.model
    assert internal.typed.stream == parsed.stream


# -- JSON answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ANSWERS)
def test_json_golden_and_sdk(case):
    rendered = door.render_json(terminal_response(case), DoorRequest(body={}, stream=False, model=MODEL))
    check_json(GOLDEN / "streams" / f"{case}.gemini.json", rendered, update=UPDATE)
    expected = types.GenerateContentResponse.model_validate(rendered)
    # The real client, reading our bytes off the wire.
    client = sdk_client(msgspec.json.encode(rendered), content_type="application/json")
    answer = client.models.generate_content(model=MODEL, contents="hi")
    fields = {"candidates", "usage_metadata", "model_version", "response_id"}
    assert answer.model_dump(exclude_none=True, include=fields) == expected.model_dump(
        exclude_none=True, include=fields
    )
    assert answer.usage_metadata.total_token_count == rendered["usageMetadata"]["totalTokenCount"]


# -- streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", STREAMS)
def test_sse_stream_golden_read_by_the_sdk(case):
    wire = render_stream(golden_events(case), sse=True)
    check_bytes(GOLDEN / "streams" / f"{case}.sse", wire, update=UPDATE)
    assert b"[DONE]" not in wire and b"event:" not in wire  # Gemini's SSE: data lines only
    client = sdk_client(wire)
    if case == "failed":
        with pytest.raises(genai_errors.APIError) as caught:
            list(client.models.generate_content_stream(model=MODEL, contents="hi"))
        assert "upstream broke" in str(caught.value)
        return
    pieces = list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    assert "alt=sse" in str(client.seen[0].url)
    answer = load(GOLDEN / "streams" / f"{case}.gemini.json")
    assert pieces[-1].candidates[0].finish_reason == answer["candidates"][0]["finishReason"]
    assert pieces[-1].usage_metadata.model_dump(exclude_none=True) == types.GenerateContentResponseUsageMetadata(
        **answer["usageMetadata"]
    ).model_dump(exclude_none=True)
    streamed = [part for piece in pieces for part in piece.candidates[0].content.parts or []]
    answered = types.GenerateContentResponse.model_validate(answer).candidates[0].content.parts or []
    # The same visible text and calls as the JSON answer (a stream sends text in pieces, thoughts marked).
    assert "".join(p.text or "" for p in streamed if not p.thought) == "".join(
        p.text or "" for p in answered if not p.thought
    )
    assert [p.function_call for p in streamed if p.function_call] == [
        p.function_call for p in answered if p.function_call
    ]


@pytest.mark.parametrize("case", STREAMS)
def test_array_stream_golden_is_one_json_document(case):
    wire = render_stream(golden_events(case), sse=False)
    check_bytes(GOLDEN / "streams" / f"{case}.array.json", wire, update=UPDATE)
    chunks = json.loads(wire)  # the array form is one JSON document, whatever it carries
    assert chunks == [
        json.loads(block.removeprefix(b"data: "))
        for block in render_stream(golden_events(case), sse=True).split(b"\r\n\r\n")
        if block
    ]  # the same chunks as the SSE form
    if case == "failed":
        assert chunks[-1]["error"]["message"] == "upstream broke"
    else:
        assert chunks[-1]["usageMetadata"] == load(GOLDEN / "streams" / f"{case}.gemini.json")["usageMetadata"]
