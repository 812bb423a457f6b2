"""The exact counter: the vocabulary each model is counted with, counts that match the o200k/cl100k
tokenizers, slicing that keeps big inputs exact, and what is never counted."""

import time

import bpe_openai
import pytest

from gateway.upstream.truth import counting
from gateway.wire.schema import parse_request


def typed(**body):
    import json

    return parse_request(json.dumps({"model": "gpt-4o", **body}).encode()).typed


@pytest.mark.parametrize(("model", "options", "vocab"), [
    ("gpt-4o", {}, "o200k"), ("gpt-4o-mini-2024-07-18", {}, "o200k"), ("gpt-4.1", {}, "o200k"), ("gpt-5", {}, "o200k"),
    ("o3-mini", {}, "o200k"), ("openai/gpt-4o", {}, "o200k"), ("gpt-4-turbo", {}, "cl100k"), ("gpt-3.5-turbo", {}, "cl100k"),
    ("claude-sonnet-4", {}, "estimate"), ("deepseek-chat", {}, "estimate"), ("omni-x", {}, "estimate"),
    ("deepseek-chat", {"truth_vocabulary": "cl100k"}, "cl100k"), ("gpt-4o", {"truth_vocabulary": "estimate"}, "estimate"),
    ("my-gpt", {"truth_vocabulary": {"gpt-4o": "o200k"}}, "o200k"),
])  # fmt: skip
def test_vocabulary_by_model_name_or_channel_option(model, options, vocab):
    assert counting.vocabulary("gpt-4o", model, options) == vocab


def test_counts_match_the_tokenizers_and_slices_stay_exact():
    o200k, cl100k = bpe_openai.get_encoding("o200k_base"), bpe_openai.get_encoding("cl100k_base")
    text = "The quick brown fox jumps over the lazy dog. 你好，世界！ {\"a\": [1, 2, 3]}\n"
    assert counting.count_text("hello world", "o200k") == 2
    assert counting.count_text(text, "o200k") == len(o200k.encode(text))
    assert counting.count_text(text, "cl100k") == len(cl100k.encode(text))
    big = text * 3000  # ~200k characters: four slices
    assert len(counting._slices(big)) > 1 and "".join(counting._slices(big)) == big
    assert counting.count_text(big, "o200k") == counting._tokenizer("o200k").count(big)


def test_request_framing_and_uncountable_requests():
    one = counting.count_request(typed(input="hello world"), "o200k")
    assert one is not None and one.exact and one.tokens == 3 + (3 + 1 + 2)
    both = counting.count_request(typed(input="hello world", instructions="hello world"), "o200k")
    assert both is not None and both.tokens == 3 + 2 * (3 + 1 + 2)
    estimated = counting.count_request(typed(input="hello world"), "estimate")
    assert estimated is not None and not estimated.exact
    image = [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x.example/a.png"}]}]
    assert counting.count_request(typed(input=image), "o200k") is None
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    assert counting.count_request(typed(input="hi", tools=tools), "o200k") is None
    assert counting.count_request(typed(input="hi", previous_response_id="resp_1"), "o200k") is None


def test_counting_speed_and_slices_short_enough_for_the_loop(capsys):
    """Measured: the counter's throughput, and the longest time one slice holds the GIL."""
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. 数据 123 " * 20000  # ~1.3 MB
    counting.count_text("warm up", "o200k")
    started = time.perf_counter()
    counting.count_text(text, "o200k")
    elapsed = time.perf_counter() - started
    slice_started = time.perf_counter()
    counting._tokenizer("o200k").count(counting._slices(text)[0])
    one_slice = time.perf_counter() - slice_started
    with capsys.disabled():
        print(f"\ncounted {len(text.encode()) / 1e6:.2f} MB in {elapsed * 1000:.0f} ms "
              f"({len(text.encode()) / elapsed / 1e6:.1f} MB/s); one slice {one_slice * 1000:.1f} ms")  # fmt: skip
    assert one_slice < 0.05  # a slice never holds the event loop's GIL for long


def test_the_worker_counts_in_a_child_process_and_never_loads_a_vocabulary():
    """The vocabularies (~155 MB with their package) live in the truth child (child.py): the same count as
    here, and this process's tokenizer cache stays empty."""
    from gateway.upstream.truth import child

    counting._tokenizer.cache_clear()
    messages = [("system", "be brief"), ("user", "hello world, 你好")]
    try:
        in_child = child.count_messages(messages, "o200k")
        assert counting._tokenizer.cache_info().currsize == 0  # counted, and nothing loaded here
        assert in_child == counting.count_messages(messages, "o200k")  # the same count as in-process
        assert child.count_messages(messages, "estimate") == counting.count_messages(messages, "estimate")
    finally:
        child.stop()
        counting._tokenizer.cache_clear()
