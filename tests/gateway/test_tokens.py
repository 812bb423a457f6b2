"""The offline token counter: no download, deterministic, in the right range for real tokenizers."""

import socket

import pytest

from gateway.wire.schema import parse_request
from gateway.wire.tokens import IMAGE_TOKENS, count_request_tokens, count_tokens


def test_counts_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the token counter tried to open a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert count_tokens("Hello, world!") == 4


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("", 0, 0),
        ("hello", 1, 2),
        ("The quick brown fox jumps over the lazy dog.", 9, 13),  # o200k: 10
        ("总结一下接入步骤", 5, 8),  # o200k: ~6
        ("使用简洁中文回答。", 6, 9),
        ("12345678", 3, 3),
        ("def f(x):\n    return x * 2", 9, 14),
    ],
)
def test_counts_are_close_to_real_tokenizers(text, low, high):
    assert low <= count_tokens(text) <= high


def test_count_is_deterministic_and_monotonic_in_length():
    text = "A longer passage of text, with punctuation; numbers 2026 and 中文字符。"
    assert count_tokens(text) == count_tokens(text)
    assert count_tokens(text + text) >= count_tokens(text)


def test_request_count_includes_instructions_items_images_and_tools():
    body = b"""{"model":"m","instructions":"Be brief.","input":[
      {"role":"user","content":[{"type":"input_text","text":"hello"},{"type":"input_image","image_url":"https://x/y.png"}]},
      {"type":"function_call","call_id":"c1","name":"f","arguments":"{\\"a\\":1}"},
      {"type":"function_call_output","call_id":"c1","output":"42"}],
      "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]}"""
    total = count_request_tokens(parse_request(body).typed)
    assert total > IMAGE_TOKENS + count_tokens("Be brief.") + count_tokens("hello")
