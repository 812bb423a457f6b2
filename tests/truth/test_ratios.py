"""The ratio window stays bounded, the hand-off drops instead of queueing without end, and the verdict
needs enough exact samples."""

from concurrent.futures import Future

import pytest

from gateway.relay.catalog import ChannelRoute
from gateway.upstream.truth import ratios
from gateway.upstream.truth.models import TokenRatio
from gateway.wire.schema import parse_request
from tests.factories import make_channel, make_model

pytestmark = pytest.mark.django_db


def test_window_keeps_the_newest_and_sums_everything(settings):
    settings.HARNMODEL_TRUTH_WINDOW = 5
    make_model("gpt-4o")
    channel = make_channel("c")
    ratios.record([ratios.Sample(channel.pk, "gpt-4o", "o200k", 100, 100 + n) for n in range(12)])
    row = TokenRatio.objects.get(channel=channel, model_id="gpt-4o")
    assert row.window == [1.07, 1.08, 1.09, 1.1, 1.11] and row.samples == 12
    assert row.counted_tokens == 1200 and row.reported_tokens == 1200 + sum(range(12))
    ratios.record([ratios.Sample(channel.pk, "gpt-4o", "cl100k", 100, 100)])  # the vocabulary changed
    row.refresh_from_db()
    assert row.window == [1.0] and row.vocabulary == "cl100k"


def test_verdict_needs_enough_exact_samples(settings):
    settings.HARNMODEL_TRUTH_MIN_SAMPLES = 3
    few = TokenRatio(vocabulary="o200k", window=[1.3, 1.3])
    many = TokenRatio(vocabulary="o200k", window=[1.3, 1.3, 1.0, 1.3])
    estimated = TokenRatio(vocabulary="estimate", window=[1.3] * 10)
    honest = TokenRatio(vocabulary="o200k", window=[1.0, 1.04, 0.99, 1.02])
    assert not ratios.stats(few).inflated() and ratios.stats(many).inflated()
    assert not ratios.stats(estimated).inflated() and not ratios.stats(honest).inflated()
    assert ratios.stats(TokenRatio(vocabulary="o200k", window=[])) is None


def test_a_full_queue_drops_samples_instead_of_growing(settings):
    settings.HARNMODEL_TRUTH_PENDING = 0
    route = ChannelRoute(id=1, name="c", provider="openai_responses", base_url="", priority=0, weight=1,
                         options={}, upstream_model="gpt-4o")  # fmt: skip
    request = parse_request(b'{"model": "gpt-4o", "input": "hi"}').typed
    before = ratios.dropped()
    assert ratios.note(route, "gpt-4o", request, 10) is False
    assert ratios.dropped() == before + 1
    assert ratios.note(route, "gpt-4o", request, 0) is False  # nothing reported: nothing to compare


def test_a_busy_pair_is_sampled_at_the_configured_rate(settings, monkeypatch):
    """Counting an input again costs a tokenizer pass: a busy channel × model gives at most
    HARNMODEL_TRUTH_SAMPLES_PER_SECOND samples; another pair has its own allowance."""
    settings.HARNMODEL_TRUTH_SAMPLES_PER_SECOND = 2
    ratios.forget()
    counted: list[int] = []

    def submit(fn, *args):  # record what would be counted; run nothing
        counted.extend(args[:1])
        done = Future()
        done.set_result(None)
        return done

    monkeypatch.setattr(ratios._executor, "submit", submit)
    clock = [1000.0]
    monkeypatch.setattr(ratios.time, "monotonic", lambda: clock[0])
    request = parse_request(b'{"model": "gpt-4o", "input": "hi"}').typed
    routes = [ChannelRoute(id=n, name="c", provider="openai_responses", base_url="", priority=0, weight=1,
                           options={}, upstream_model="gpt-4o") for n in (1, 2)]  # fmt: skip
    assert [ratios.note(routes[0], "gpt-4o", request, 50) for _ in range(5)] == [True] + [False] * 4
    assert ratios.note(routes[1], "gpt-4o", request, 50) is True
    clock[0] += 0.5  # 1 / rate later: the next one counts
    assert ratios.note(routes[0], "gpt-4o", request, 50) is True
    assert counted == [1, 2, 1]
    with ratios._lock:
        ratios._state.pending -= 3  # nothing ran: give back what note() counted as queued
