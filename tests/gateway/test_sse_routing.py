import random
from collections import Counter

from gateway.relay.catalog import ChannelRoute
from gateway.relay.route import channel_order
from gateway.wire.sse import SSEDecoder, encode_event


def test_encode_event_keeps_utf8_raw():
    raw = encode_event("response.output_text.delta", {"delta": "你好"})
    assert raw == 'event: response.output_text.delta\ndata: {"delta":"你好"}\n\n'.encode()


def test_decoder_handles_any_split_crlf_and_comments():
    stream = b": keepalive\r\n\r\nevent: a\r\ndata: {\"x\":\"\xe4\xbd\xa0\"}\r\n\r\ndata: [DONE]\n\n"
    whole = [(e.event, e.data) for e in SSEDecoder().feed(stream)]
    decoder = SSEDecoder()
    pieces = []
    for i in range(len(stream)):
        pieces += [(e.event, e.data) for e in decoder.feed(stream[i : i + 1])]
    assert whole == pieces == [("a", '{"x":"你"}'.encode()), (None, b"[DONE]")]


def test_decoder_flush_keeps_a_last_event_without_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n") == []
    assert [e.data for e in decoder.flush()] == [b"1"]


def _channel(cid, priority, weight):
    return ChannelRoute(cid, f"c{cid}", "simulator", "", priority, weight, {}, "m")


def test_higher_priority_tier_is_always_tried_first_and_weights_split_the_tier():
    channels = [_channel(1, 10, 3), _channel(2, 10, 1), _channel(3, 0, 100), _channel(4, 5, 0)]
    rng = random.Random(7)
    firsts = Counter()
    for _ in range(4000):
        order = channel_order(channels, rng=rng)
        assert {c.id for c in order[:2]} == {1, 2}
        assert order[2].id == 3
        assert 4 not in {c.id for c in order}  # weight 0 = drained
        firsts[order[0].id] += 1
    assert 0.70 < firsts[1] / 4000 < 0.80
