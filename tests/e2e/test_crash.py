"""A worker killed mid-stream (SIGKILL: no finally, no settlement) leaves an open hold; the beat
sweeper releases it after its expiry, and nothing is charged twice or lost from the ledger."""

import httpx
import pytest
from django.utils import timezone

from billing.models import Hold, LedgerEntry, UsageRecord
from billing.selectors import wallet_summary
from billing.services import holds_expire
from tests.factories import make_channel, make_model

from .conftest import launch_gateway, stop_gateway

pytestmark = pytest.mark.django_db(transaction=True)


def test_killed_worker_leaves_a_hold_that_the_sweeper_releases(tmp_path, alice):
    make_model("gpt-4o")
    make_channel("slow", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 300})
    before = wallet_summary(account_id=alice.account.pk)
    server = launch_gateway(tmp_path / "crash.log")
    try:
        with httpx.stream(
            "POST",
            server.responses_url,
            headers={"authorization": f"Bearer {alice.key}"},
            json={"model": "gpt-4o", "input": "tell me a long story", "stream": True},
            timeout=10,
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            while "response.output_text.delta" not in next(lines):
                pass  # the answer is streaming: the hold is taken, the settlement has not happened
            server.process.kill()
            server.process.wait(10)
    finally:
        stop_gateway(server)

    hold = Hold.objects.get()
    during = wallet_summary(account_id=alice.account.pk)
    assert hold.status == Hold.Status.OPEN
    assert during["held_micros"] == hold.amount_micros > 0
    assert during["balance_micros"] == before["balance_micros"]
    assert not LedgerEntry.objects.filter(kind="charge").exists() and not UsageRecord.objects.exists()

    assert holds_expire(now=timezone.now()) == 0  # not before its expiry: it might still be settling
    assert holds_expire(now=hold.expires_at + timezone.timedelta(seconds=1)) == 1
    after = wallet_summary(account_id=alice.account.pk)
    assert Hold.objects.get().status == Hold.Status.EXPIRED
    assert after["held_micros"] == 0 == after["open_holds_micros"]
    assert after["balance_micros"] == before["balance_micros"] == after["ledger_sum_micros"]
    assert holds_expire(now=hold.expires_at + timezone.timedelta(seconds=1)) == 0  # idempotent
