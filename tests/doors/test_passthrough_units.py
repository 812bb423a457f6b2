"""The passthrough's decisions, in process: which requests go as they are, and how unknown fields are kept."""

import pytest
from django.test import override_settings

from gateway.protocols import native
from gateway.relay import doors
from gateway.wire.errors import InvalidRequest


def _parse(door, body: dict, path_model: str | None = None, query: dict | None = None):
    import msgspec

    request, _ = doors.parse_body(door, msgspec.json.encode(body), path_model, query or {}, {})
    return request


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "x_new": {"a": 1}}


def test_unknown_fields_are_recorded_with_the_clients_own_body():
    request = _parse(doors.CHAT, CHAT)
    assert request.unknown == ("x_new",) and request.raw == CHAT and "x_new" not in request.body


@override_settings(HARNMODEL_DOOR_PASSTHROUGH=False)
def test_with_the_passthrough_off_the_door_refuses_them_as_before():
    with pytest.raises(InvalidRequest) as error:
        _parse(doors.CHAT, CHAT)
    assert error.value.param == "x_new" and error.value.code == "unsupported_parameter"
    known = _parse(doors.CHAT, {name: value for name, value in CHAT.items() if name != "x_new"})
    assert not native.applies("chat", known, "openai_chat")  # every door translates


def test_unknown_fields_are_bounded():
    body = {**CHAT, **{f"x{i}": i for i in range(doors.MAX_UNKNOWN_FIELDS + 1)}}
    with pytest.raises(InvalidRequest) as error:
        _parse(doors.CHAT, body)
    assert error.value.code == "unsupported_parameter"


def test_only_the_doors_own_protocol_and_gemini_sse_streams_go_as_they_are():
    chat = _parse(doors.CHAT, CHAT)
    assert native.applies("chat", chat, "openai_chat") and not native.applies("chat", chat, "openai_responses")
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    sse = _parse(doors.GEMINI, body, "gpt-4o:streamGenerateContent", {"alt": "sse"})
    array = _parse(doors.GEMINI, body, "gpt-4o:streamGenerateContent")
    assert native.applies("gemini", sse, "gemini") and not native.applies("gemini", array, "gemini")


def test_model_restored_in_every_spelling_and_nothing_else():
    data = b'{"model":"up-1-2025","x":"up-1","modelVersion": "up-1","text":"\\"model\\":\\"up-1\\""}'
    assert native.restore_model(data, "models/up-1", "pub") == (
        b'{"model":"pub","x":"up-1","modelVersion": "pub","text":"\\"model\\":\\"up-1\\""}')


def test_a_streams_restorer_rewrites_exactly_what_restore_model_does():
    """The per-stream shortcut (bytes.replace once the spelling is known) against the rule, event by event."""
    events = [
        b'data: {"model":"up-1-2025","choices":[]}',  # learns the spelling
        b'data: {"model":"up-1-2025","choices":[{"delta":{"content":"hi"}}]}',  # the shortcut
        b'data: {"model":"up-1-2025","x":{"model":"up-1-2025"}}',  # twice
        b'data: {"model":"up-1-2026","choices":[]}',  # another spelling: the regex
        b'data: {"model": "up-1-2025","modelVersion":"up-1"}',  # spaces and modelVersion
        b'data: {"model":"up-1-2025","text":"\\"model\\":\\"up-1\\""}',  # "model inside a string
        b'data: {"model":"other","choices":[]}',  # not the upstream's model
        b'data: {"choices":[]}',
        b"data: [DONE]",
    ]
    restorer = native.ModelRestorer("models/up-1", "pub")
    for event in events:
        assert restorer(event) == native.restore_model(event, "models/up-1", "pub"), event
    assert restorer._literal == b'"model":"up-1-2025"'
    assert native.ModelRestorer("", "pub")(events[0]) == events[0]
