"""Same-protocol passthrough (issue 15 "Fidelity"): chat → openai_chat, messages → anthropic, gemini → gemini.

Through the real server and the real-HTTP fakes: the upstream's answer reaches the client byte for byte apart
from the model name (JSON and stream, fields and events nobody has heard of included), the client's body goes
up with only the model, the cap (in the protocol's own field) and the stream switch changed, an unknown field
reaches a channel that allows it by name and is refused by name otherwise, billing is exact, a stream that
outruns its hold is cut in the door's own shape, and a failing channel fails over before the first byte."""

import json
import re

import pytest

from billing.models import UsageRecord
from tests.e2e.conftest import wait_for

from .conftest import serve
from .passthrough_wire import NEW, PAIRS, TEXT, Pair
from .test_doors_sdk import billed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=PAIRS, ids=lambda pair: pair.door)
def pair(request) -> Pair:
    return request.param


def unreceipted(data: bytes) -> bytes:
    """The answer without the gateway's receipt, the one member it adds to a passthrough usage object."""
    return re.sub(rb',?"receipt":"[^"]+"', b"", data)


def _allow(channel, *names: str) -> None:
    channel.options = {**channel.options, "allow_fields": list(names)}
    channel.save()


def _events(data: bytes) -> list[bytes]:
    return [event for event in data.replace(b"\r\n", b"\n").split(b"\n\n") if event.strip()]


def test_json_answer_is_the_upstreams_bytes_and_billed_exactly(pair, http, alice, fakes):
    serve(pair.kind, fakes)
    canned = pair.json_answer()
    pair.queue(fakes, canned)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body())
    assert answer.status_code == 200, answer.text
    # byte for byte; only the model name and the receipt (test_receipts_doors.py) are ours
    assert unreceipted(answer.content) == pair.public(canned) != canned
    assert answer.headers["content-type"].startswith("application/json")
    [sent] = pair.sent(fakes)
    assert TEXT in json.dumps(sent, ensure_ascii=False) and pair.cap_sent(sent) == 50
    if pair.door != "gemini":  # Gemini names the model in the URL
        assert sent["model"] == pair.upstream
    [record] = billed(pair.door, alice.account)
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (7, 3, False)


def test_stream_is_the_upstreams_bytes_and_billed_exactly(pair, http, alice, fakes):
    serve(pair.kind, fakes)
    canned = pair.stream_answer(["你好", "，世界", " 👋🏽"])
    pair.queue(fakes, canned, stream=True)
    answer = http.post(pair.path(stream=True), headers=pair.headers(alice.key), json=pair.body(stream=True))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert unreceipted(answer.content) == pair.public(canned) != canned
    [sent] = pair.sent(fakes)
    assert pair.cap_sent(sent) == 50
    if pair.door == "chat":  # usage is always asked for, so it can be billed
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    [record] = billed(pair.door, alice.account)
    assert (record.input_tokens, record.output_tokens, record.stream, record.error_code) == (7, 3, True, "")


def test_unknown_field_reaches_a_same_protocol_channel_that_allows_it(pair, http, alice, fakes):
    _allow(serve(pair.kind, fakes), NEW)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body(**{NEW: {"k": [1, "二"]}}))
    assert answer.status_code == 200, answer.text
    [sent] = pair.sent(fakes)
    assert sent[NEW] == {"k": [1, "二"]}
    billed(pair.door, alice.account)


def test_an_idempotency_key_reused_with_another_unknown_field_is_refused(pair, http, alice, fakes):
    """The fingerprint is the client's own body: a field only passthrough carries makes it another request."""
    _allow(serve(pair.kind, fakes), NEW)
    headers = {**pair.headers(alice.key), "Idempotency-Key": "same-key"}
    first = http.post(pair.path(), headers=headers, json=pair.body(**{NEW: 1}))
    assert first.status_code == 200, first.text
    other = http.post(pair.path(), headers=headers, json=pair.body(**{NEW: 2}))
    assert other.status_code == 400 and "different request body" in other.text, other.text
    assert len(pair.sent(fakes)) == 1
    billed(pair.door, alice.account)


@pytest.mark.parametrize("how", ["not_allowed", "translating"])
def test_unknown_field_is_refused_by_name_otherwise(pair, http, alice, fakes, how):
    if how == "not_allowed":
        _allow(serve(pair.kind, fakes), "some_other_field")
    else:  # a translating channel cannot carry it, whatever its operator allows
        _allow(serve(pair.translating, fakes), NEW)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body(**{NEW: 1}))
    assert answer.status_code == 400, answer.text
    assert NEW in answer.text
    if pair.door == "chat":
        assert answer.json()["error"]["param"] == NEW and answer.json()["error"]["code"] == "unsupported_parameter"
    assert pair.sent(fakes) == [] and fakes["upstream"].received() == []  # no upstream saw it
    assert not UsageRecord.objects.filter(account=alice.account, status=200).exists()


def test_translating_channel_still_translates(pair, http, alice, fakes):
    serve(pair.translating, fakes)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body())
    assert answer.status_code == 200, answer.text
    assert TEXT in answer.content.decode()  # the fakes echo the user's text, rendered by the door
    billed(pair.door, alice.account)


def test_stream_is_cut_at_the_hold_in_the_doors_shape(pair, http, alice, fakes):
    serve(pair.kind, fakes)
    # An upstream that ignores the cap of 5: 40 words and no end.
    pair.queue(fakes, pair.stream_answer([" word"] * 40, end=False), stream=True)
    answer = http.post(pair.path(stream=True), headers=pair.headers(alice.key), json=pair.body(cap=5, stream=True))
    assert answer.status_code == 200, answer.text
    events = _events(answer.content)
    assert answer.content.count(b" word") <= 5
    if pair.door == "chat":
        assert events[-1] == b"data: [DONE]"
        assert json.loads(events[-2][len(b"data: "):])["choices"][0]["finish_reason"] == "length"
    elif pair.door == "messages":
        assert events[-1].startswith(b"event: message_stop")
        assert b'"stop_reason":"max_tokens"' in events[-2]
    else:
        assert json.loads(events[-1][len(b"data: "):])["candidates"][0]["finishReason"] == "MAX_TOKENS"
    record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), what="the usage record")
    assert record.error_code == "output_cap_reached" and 0 < record.output_tokens <= 5 and record.door == pair.door


def test_failover_before_the_first_byte(pair, http, alice, fakes):
    serve(pair.kind, fakes, name="first", priority=10)
    serve(pair.kind, fakes, name="second", priority=0)
    failure = b'{"error":{"code":500,"message":"boom","status":"INTERNAL","type":"api_error"}}'
    pair.queue(fakes, failure, status=500)
    canned = pair.json_answer()
    pair.queue(fakes, canned)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body())
    assert answer.status_code == 200, answer.text
    assert unreceipted(answer.content) == pair.public(canned)
    assert len(pair.sent(fakes)) == 2
    [record] = billed(pair.door, alice.account)
    assert [attempt["status"] for attempt in record.attempts] == [500, 200]


def test_stream_split_anywhere_arrives_whole(http, alice, fakes):
    """Upstream chunks cut inside events and characters: every event still goes out whole, as it was."""
    pair = PAIRS[2]
    serve(pair.kind, fakes)
    canned = pair.stream_answer(["你好", "，世界", " 👋🏽"])
    fakes["gemini"].reply(canned, chunk_size=7)
    answer = http.post(pair.path(stream=True), headers=pair.headers(alice.key), json=pair.body())
    assert answer.status_code == 200 and unreceipted(answer.content) == pair.public(canned)
    billed("gemini", alice.account)


def test_chat_usage_chunk_only_when_asked(http, alice, fakes):
    """We always ask a Chat upstream for its usage chunk (to bill it); a client that did not ask never sees it."""
    pair = PAIRS[0]
    serve(pair.kind, fakes)
    canned = pair.stream_answer(["你好"])
    pair.queue(fakes, canned, stream=True)
    body = pair.body(stream=True)
    del body["stream_options"]
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=body)
    assert answer.status_code == 200, answer.text
    expected = [event for event in _events(pair.public(canned)) if b'"choices":[]' not in event]
    assert _events(answer.content) == expected and len(expected) == len(_events(canned)) - 1
    [record] = billed("chat", alice.account)
    assert (record.input_tokens, record.output_tokens) == (7, 3)


EARLY_ERRORS = {
    "chat": b'data: {"error":{"message":"busy","type":"server_error","param":null,"code":null}}\n\n',
    "messages": b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n',
    "gemini": b'data: {"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}\r\n\r\n',
}


def test_stream_error_before_any_output_fails_over(pair, http, alice, fakes):
    serve(pair.kind, fakes, name="first", priority=10)
    serve(pair.kind, fakes, name="second", priority=0)
    pair.queue(fakes, EARLY_ERRORS[pair.door], stream=True)
    canned = pair.stream_answer(["你好"])
    pair.queue(fakes, canned, stream=True)
    answer = http.post(pair.path(stream=True), headers=pair.headers(alice.key), json=pair.body(stream=True))
    assert answer.status_code == 200 and unreceipted(answer.content) == pair.public(canned)
    [record] = billed(pair.door, alice.account)
    assert len(record.attempts) == 2 and record.attempts[0]["error"] == "upstream_error"


LIFECYCLE_THEN_ERROR = {
    "chat": b'data: {"id":"c0","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
            b'"delta":{"role":"assistant","content":""}}]}\n\n' + EARLY_ERRORS["chat"],
    "messages": b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_0","type":"message",'
                b'"role":"assistant","content":[],"model":"m","usage":{"input_tokens":7,"output_tokens":1}}}\n\n'
                b'event: ping\ndata: {"type":"ping"}\n\n'
                b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                b'"content_block":{"type":"text","text":""}}\n\n' + EARLY_ERRORS["messages"],
    "gemini": EARLY_ERRORS["gemini"],
}


def test_stream_error_after_opening_events_but_before_content_fails_over(pair, http, alice, fakes):
    """Opening events (message_start, a role-only chunk) are held until the first content, so an error
    between them and any content still fails over: the client sees only the second channel's answer."""
    serve(pair.kind, fakes, name="first", priority=10)
    serve(pair.kind, fakes, name="second", priority=0)
    pair.queue(fakes, LIFECYCLE_THEN_ERROR[pair.door], stream=True, gap=0.05)  # each event its own read
    canned = pair.stream_answer(["你好"])
    pair.queue(fakes, canned, stream=True)
    answer = http.post(pair.path(stream=True), headers=pair.headers(alice.key), json=pair.body(stream=True))
    assert answer.status_code == 200 and unreceipted(answer.content) == pair.public(canned)
    [record] = billed(pair.door, alice.account)
    assert len(record.attempts) == 2 and record.attempts[0]["error"] == "upstream_error"


def test_json_without_usage_is_estimated_within_the_hold(http, alice, fakes):
    pair = PAIRS[0]
    serve(pair.kind, fakes)
    canned = json.dumps({"id": "chatcmpl-2", "object": "chat.completion", "model": pair.upstream, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "word " * 200}, "finish_reason": "length"}]}).encode()
    pair.queue(fakes, canned)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body(cap=5))
    assert answer.status_code == 200
    assert unreceipted(answer.content) == canned.replace(f'"model": "{pair.upstream}"'.encode(), b'"model": "gpt-4o"')
    record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), what="the usage record")
    assert record.usage_estimated and 0 < record.output_tokens <= 5
