import pytest

from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import parse_request


def parse(body: str):
    return parse_request(body.encode())


def error_of(body: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    return info.value


def test_doc_page_example_parses():
    parsed = parse('{"model":"gpt-4o","instructions":"使用简洁中文回答。","input":[{"role":"user","content":'
                   '[{"type":"input_text","text":"总结一下接入步骤"}]}],"stream":false}')
    assert parsed.typed.model == "gpt-4o"
    assert parsed.typed.input[0]["content"][0]["text"] == "总结一下接入步骤"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("not json", None),
        ("[1,2]", None),
        ('{"input":"hi"}', "model"),
        ('{"model":"m"}', "input"),
        ('{"model":"m","input":"hi","temperature":"hot"}', "temperature"),
        ('{"model":"m","input":"hi","temperature":3}', "temperature"),
        ('{"model":"m","input":"hi","top_p":-1}', "top_p"),
        ('{"model":"m","input":"hi","stream":"yes"}', "stream"),
        ('{"model":"m","input":"hi","max_output_tokens":0}', "max_output_tokens"),
        ('{"model":5,"input":"hi"}', "model"),
        ('{"model":"m","input":[]}', "input"),
        ('{"model":"m","input":[{"role":"robot","content":"x"}]}', "input[0].role"),
        ('{"model":"m","input":[{"role":"user","content":[{"type":"input_txt","text":"x"}]}]}', "input[0].content[0].type"),
        ('{"model":"m","input":[{"type":"function_call_output","output":"x"}]}', "input[0].call_id"),
        ('{"model":"m","input":"x","tools":[{"type":"function","name":"bad name"}]}', "tools[0].name"),
        ('{"model":"m","input":"x","tool_choice":"sometimes"}', "tool_choice"),
        ('{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}',
         "tool_choice.name"),
        ('{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}', "text.format"),
    ],
)
def test_bad_requests_name_the_param(body, param):
    error = error_of(body)
    assert error.status == 400
    assert error.param == param
    assert error.message


def test_doc_page_tool_choice_object_forms_are_normalised():
    tools = '"tools":[{"type":"function","name":"lookupDoc"}]'
    assert parse('{"model":"m","input":"x",' + tools + ',"tool_choice":{"type":"auto"}}').typed.tool_choice == "auto"
    named = parse('{"model":"m","input":"x",' + tools + ',"tool_choice":{"type":"required","name":"lookupDoc"}}')
    assert named.typed.tool_choice == {"type": "function", "name": "lookupDoc"}
    assert named.raw["tool_choice"] == {"type": "function", "name": "lookupDoc"}


def test_unknown_fields_are_kept_for_passthrough_and_ignored_by_the_typed_view():
    parsed = parse('{"model":"m","input":"x","some_future_field":{"a":1}}')
    assert parsed.raw["some_future_field"] == {"a": 1}
    assert not hasattr(parsed.typed, "some_future_field")
