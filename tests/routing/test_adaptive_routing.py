"""Routing that learns (a model's routing = adaptive): inside a priority tier the weighted pick leans towards the
channel with the faster first byte and fewer errors, never below the floor share; a plain weighted model is
untouched. The end-to-end tests run the real relay against a real HTTP fake upstream where one channel is slow."""

import random
from collections import Counter

import pytest

from billing.db import run_db
from gateway.models import CatalogModel
from gateway.relay import adaptive
from gateway.relay.catalog import ChannelRoute, clear_caches
from gateway.relay.route import channel_order
from tests.routing.conftest import MODEL, ask, make_channels


@pytest.fixture(autouse=True)
def _fresh():
    adaptive.reset_local()
    yield
    adaptive.reset_local()


def route(cid: int, weight: int = 1, priority: int = 0) -> ChannelRoute:
    return ChannelRoute(cid, f"c{cid}", "simulator", "", priority, weight, {}, "m")


def first_picks(channels: list[ChannelRoute], n: int, learn: str | None) -> Counter:
    rng = random.Random(7)
    return Counter(channel_order(channels, rng=rng, learn=learn)[0].id for _ in range(n))


def test_factors_favour_the_fast_and_healthy_but_never_below_the_floor():
    a, b, c, d = route(1), route(2), route(3), route(4)
    for _ in range(30):
        adaptive.observe(MODEL, 1, 100)
        adaptive.observe(MODEL, 2, 200)
        adaptive.observe(MODEL, 3, 5000)
    factors = adaptive.factors(MODEL, [a, b, c, d])
    assert factors[1] == pytest.approx(1.0)
    assert factors[2] == pytest.approx(0.25, rel=0.01)  # twice as slow: a quarter of its weight
    assert factors[3] == adaptive.FLOOR  # fifty times as slow: the floor, still measured
    assert factors[4] == 1.0  # never measured: counts as the fastest, so it gets measured at once
    for _ in range(30):  # the fast one starts failing: its error EWMA drags it down
        adaptive.observe(MODEL, 1, None)
    assert adaptive.factors(MODEL, [a, b])[1] == adaptive.FLOOR
    snapshot = adaptive.snapshot(MODEL, 1)
    assert snapshot is not None and snapshot[1] > 0.99 and snapshot[0] == pytest.approx(100)


def test_the_shift_stays_within_bounds_and_only_inside_a_tier():
    fast, slow, backup = route(1), route(2), route(3, priority=-1)
    for _ in range(20):
        adaptive.observe(MODEL, 1, 100)
        adaptive.observe(MODEL, 2, 400)  # four times as slow: (1/4)^2 = 1/16 of its weight, above the floor
        adaptive.observe(MODEL, 3, 1)  # fastest of all, but in a lower tier: only ever a failover
    n = 20_000
    learnt = first_picks([fast, slow, backup], n, MODEL)
    share = learnt[2] / n
    assert share == pytest.approx((1 / 16) / (1 + 1 / 16), abs=0.01)
    assert learnt[3] == 0
    plain = first_picks([fast, slow, backup], n, None)  # a weighted model ignores what was learnt
    assert plain[2] / n == pytest.approx(0.5, abs=0.02)


def test_the_state_is_bounded():
    for cid in range(adaptive.MAX_ENTRIES + 500):
        adaptive.observe(MODEL, cid, 10)
    assert len(adaptive._stats) <= adaptive.MAX_ENTRIES


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("routing", ["adaptive", "weighted"])
async def test_traffic_shifts_away_from_a_slow_channel(faulty, customer, routing):
    chans = await run_db(make_channels, faulty, "a", "b", ordered=False)  # one tier, equal weights
    await run_db(CatalogModel.objects.filter(public_id=MODEL).update, routing=routing)
    clear_caches()
    faulty.slow("a", 0.15)  # JSON answers from a come 150 ms late
    warmup, measured = 20, 100
    for _ in range(warmup + measured):
        assert (await ask(customer.key)).status == 200
    hits = sorted(faulty.hits("a") + faulty.hits("b"), key=lambda h: h.started)[warmup:]
    share_a = sum(1 for h in hits if h.name == "a") / len(hits)
    if routing == "weighted":
        assert 0.3 <= share_a <= 0.7  # control: the plain pick does not learn
    else:
        # a's factor sits at the floor (5 %: its share ≈ 4.8 %); bounds hold at over 4 standard deviations
        assert share_a <= 0.15
        stats = adaptive.snapshot(MODEL, chans["a"].pk), adaptive.snapshot(MODEL, chans["b"].pk)
        assert stats[0] is not None and stats[1] is not None and stats[0][0] > 3 * stats[1][0]
