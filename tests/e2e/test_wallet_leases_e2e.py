"""Wallet leases in a real uvicorn worker (PostgreSQL): requests ride on one lease and are each charged once; a
stopped worker gives its lease back at shutdown; a killed one (SIGKILL: no shutdown, no settlement) leaves its lease
open until the sweeper releases it after expiry. Every ending leaves balance = Σ ledger and held = Σ open holds."""

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from billing.models import Hold, LedgerEntry, UsageRecord
from billing.reconcile import ledger_reconcile
from billing.selectors import wallet_summary
from billing.services import holds_expire
from tests.factories import make_channel, make_model

from .conftest import launch_gateway, stop_gateway

pytestmark = pytest.mark.django_db(transaction=True)
LEASES = {"HARNMODEL_WALLET_LEASE_MICROS": "5000000", "HARNMODEL_WALLET_LEASE_TTL_SECONDS": "30"}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("wallet leases ride on the event-loop tier, which is PostgreSQL's")


def _exact(account_id: int) -> dict:
    summary = wallet_summary(account_id=account_id)
    assert summary["balance_micros"] == summary["ledger_sum_micros"]
    assert summary["held_micros"] == summary["open_holds_micros"]
    assert ledger_reconcile() == []
    return summary


def _ask(server, key: str, **extra) -> httpx.Response:
    return httpx.post(server.responses_url, headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o", "input": "hello", "max_output_tokens": 64, **extra}, timeout=10)


def test_requests_share_a_lease_and_a_stopped_worker_gives_it_back(tmp_path, alice):
    make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 0})
    before = wallet_summary(account_id=alice.account.pk)
    server = launch_gateway(tmp_path / "leases.log", lifespan="on", **LEASES)
    try:
        answers = [_ask(server, alice.key) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5, server.log()
        leases = list(Hold.objects.filter(request_id__startswith="lease_").values_list("status", flat=True))
        assert leases == ["open"]  # one statement held money for all five
        during = _exact(alice.account.pk)
        assert during["held_micros"] > 0
    finally:
        stop_gateway(server)  # SIGTERM: uvicorn's shutdown gives the lease back
    after = _exact(alice.account.pk)
    ids = [a.headers["x-request-id"] for a in answers]
    assert after["held_micros"] == 0, server.log()
    assert Hold.objects.get(request_id__startswith="lease_").status == Hold.Status.RELEASED
    assert set(Hold.objects.filter(request_id__in=ids).values_list("status", flat=True)) == {"settled"}
    charges = LedgerEntry.objects.filter(kind="charge", request_id__in=ids)
    assert charges.count() == 5 == UsageRecord.objects.filter(request_id__in=ids).count()
    spent = -sum(charges.values_list("amount_micros", flat=True))
    assert after["balance_micros"] == before["balance_micros"] - spent and spent > 0


def test_a_killed_worker_leaves_its_lease_to_the_sweeper(tmp_path, alice):
    make_model("gpt-4o")
    make_channel("slow", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 300})
    server = launch_gateway(tmp_path / "crash.log", lifespan="on", **LEASES)
    try:
        done = _ask(server, alice.key, max_output_tokens=2)  # one settled request before the crash
        assert done.status_code == 200, server.log()
        with httpx.stream("POST", server.responses_url, headers={"authorization": f"Bearer {alice.key}"},
                          json={"model": "gpt-4o", "input": "tell me a long story", "stream": True},
                          timeout=10) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            while "response.output_text.delta" not in next(lines):
                pass  # streaming: carved from the lease, not settled
            crashed = response.headers["x-request-id"]
            server.process.kill()
            server.process.wait(10)
    finally:
        stop_gateway(server)

    lease = Hold.objects.get(request_id__startswith="lease_")
    during = _exact(alice.account.pk)
    assert lease.status == Hold.Status.OPEN and during["held_micros"] == lease.amount_micros > 0
    assert not Hold.objects.filter(request_id=crashed).exists()  # a carved request has no row until it settles
    charged = LedgerEntry.objects.filter(kind="charge")
    assert list(charged.values_list("request_id", flat=True)) == [done.headers["x-request-id"]]

    assert holds_expire(now=timezone.now()) == 0  # not before its expiry
    assert holds_expire(now=lease.expires_at + timezone.timedelta(seconds=1)) == 1
    after = _exact(alice.account.pk)
    assert after["held_micros"] == 0 and after["balance_micros"] == during["balance_micros"]
    assert Hold.objects.get(pk=lease.pk).status == Hold.Status.EXPIRED
    assert not UsageRecord.objects.filter(request_id=crashed).exists()  # a crashed request is not charged
