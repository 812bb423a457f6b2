"""The fault matrix: one test per ending of a request, each asserting the exact money state afterwards
(balance, every ledger row, hold status, usage record, a clean ledger_reconcile).

Real HTTP upstream (tests/upstream/faulty.py) with the gateway in process, as tests/routing does; the
crash row kills a real uvicorn worker, as tests/e2e/test_crash.py does. The module prints the results
table at the end and writes it to <pytest basetemp>/fault_matrix.md (run with -s to see it).
"""

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import AsyncClient, Client

from billing import services, tasks
from billing.db import run_db
from billing.models import Hold, TopUpOrder
from billing.money import parse_amount
from billing.pricing import Usage
from billing.selectors import price_current, price_snapshot
from gateway.wire.tokens import count_tokens
from tests.billing.matrix_helpers import Matrix, cost_of, expect, local_input_tokens, settled_state, state_of, summary
from tests.billing.test_topups_stripe import SECRET, WEBHOOK, event_payload, sign
from tests.billing.test_topups_stripe import start as stripe_checkout
from tests.e2e.conftest import launch_gateway, stop_gateway
from tests.factories import make_channel, make_customer, make_model
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, TEXT, ask, make_channels, record_of, settled
from tests.routing.test_disconnect import LONG, stream_then_hang_up
from tests.upstream.server import answer_responses

pytestmark = pytest.mark.django_db(transaction=True)
# The routing tests' fixtures (some autouse): a real fault-injecting HTTP upstream, isolated shared state.
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty
IDEM_BODY = {"model": MODEL, "input": TEXT, "max_output_tokens": 50}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    table = Matrix()
    yield table
    text = table.table()
    path = tmp_path_factory.getbasetemp() / "fault_matrix.md"
    path.write_text(text + "\n", encoding="utf-8")
    print(f"\n\nFault matrix ({path}):\n{text}\n")


@pytest.fixture(autouse=True, params=["own holds", "wallet leases"])
def money_path(request, matrix, settings):
    """Every ending twice: each request holding its own hold, and requests carved from a wallet lease (the event-loop
    tier's, PostgreSQL only)."""
    if request.param == "wallet leases" and connection.vendor != "postgresql":
        pytest.skip("wallet leases ride on the event-loop tier, which is PostgreSQL's")
    matrix.mode = request.param
    settings.HARNMODEL_WALLET_LEASE_MICROS = 5_000_000 if request.param == "wallet leases" else 0
    yield request.param
    matrix.mode = ""


def upstream_usage(faulty, name: str = "a") -> tuple[int, int]:
    answer = answer_responses(faulty.hits(name)[0].body)
    return answer.input_tokens, answer.output_tokens


async def test_success(matrix, faulty, customer):
    with matrix.row("success") as row:
        await run_db(make_channels, faulty, "a")
        reply = await ask(customer.key)
        assert reply.status == 200
        record = await record_of(reply.request_id)
        cost = cost_of(*upstream_usage(faulty))
        assert cost > 0 and (record.input_tokens, record.output_tokens) == upstream_usage(faulty)
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        row["summary"] = summary(got)


async def test_upstream_500_before_output(matrix, faulty, customer):
    with matrix.row("upstream 500 before output") as row:
        await run_db(make_channels, faulty, "a")
        faulty.fail("a", 500, {"error": {"message": "boom"}})
        reply = await ask(customer.key)
        assert reply.status == 502
        await record_of(reply.request_id)
        got = await settled_state(customer.account)
        expect(got, ledger=[], holds=[Hold.Status.RELEASED], records=[(502, "upstream_error", False, 0)])
        row["summary"] = summary(got)


async def test_upstream_cut_mid_stream(matrix, faulty, customer):
    with matrix.row("upstream cut mid-stream") as row:
        await run_db(make_channels, faulty, "a")
        faulty.cut("a", after=6)
        reply = await ask(customer.key, stream=True, input=LONG, max_output_tokens=1000)
        assert reply.status == 200 and "response.completed" not in reply.types
        record = await record_of(reply.request_id)
        # No upstream usage: input counted from the request, output from what was relayed.
        body = {"model": MODEL, "input": LONG, "max_output_tokens": 1000, "stream": True}
        assert record.input_tokens == local_input_tokens(body)
        assert 0 < record.output_tokens < upstream_usage(faulty)[1]
        cost = cost_of(record.input_tokens, record.output_tokens)
        got = await settled_state(customer.account)
        expect(
            got,
            ledger=[("charge", -cost)],
            holds=[Hold.Status.SETTLED],
            records=[(200, "upstream_stream_broken", True, cost)],
        )
        row["summary"] = summary(got)


async def test_client_disconnect_usage_arrives_while_draining(matrix, faulty, customer, settings):
    with matrix.row("client disconnect, usage arrives in drain") as row:
        settings.HARNMODEL_DRAIN_SECONDS = 10
        await run_db(make_channels, faulty, "a")
        faulty.slow("a", delay=0.01)
        request_id, _ = await stream_then_hang_up(customer.key)
        record = await record_of(request_id)
        assert (record.input_tokens, record.output_tokens) == upstream_usage(faulty)  # the upstream's own count
        cost = cost_of(*upstream_usage(faulty))
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        row["summary"] = summary(got)


async def test_client_disconnect_usage_never_arrives(matrix, faulty, customer, settings):
    with matrix.row("client disconnect, drain times out") as row:
        settings.HARNMODEL_DRAIN_SECONDS = 0.5
        await run_db(make_channels, faulty, "a")
        faulty.slow("a", delay=0.1)  # ~10 s of stream: far longer than the drain
        request_id, _ = await stream_then_hang_up(customer.key)
        record = await record_of(request_id)
        assert record.input_tokens == local_input_tokens({"model": MODEL, "input": LONG, "stream": True})
        assert 0 < record.output_tokens < upstream_usage(faulty)[1]  # what was sent, counted locally
        cost = cost_of(record.input_tokens, record.output_tokens)
        got = await settled_state(customer.account)
        expect(
            got,
            ledger=[("charge", -cost)],
            holds=[Hold.Status.SETTLED],
            records=[(200, "client_disconnected", True, cost)],
        )
        row["summary"] = summary(got)


def test_worker_crash_then_sweeper(matrix, tmp_path, customer, money_path, settings):
    with matrix.row("worker killed mid-stream + sweeper task") as row:
        make_model(MODEL)
        make_channel("slow", provider="simulator", models={MODEL: ""}, options={"latency_ms": 0, "token_delay_ms": 300})
        leased = money_path == "wallet leases"
        server = launch_gateway(tmp_path / "crash.log",
                                HARNMODEL_WALLET_LEASE_MICROS=str(settings.HARNMODEL_WALLET_LEASE_MICROS))
        try:
            with httpx.stream(
                "POST",
                server.responses_url,
                headers={"authorization": f"Bearer {customer.key}"},
                json={"model": MODEL, "input": "tell me a long story", "stream": True},
                timeout=10,
            ) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                while "response.output_text.delta" not in next(lines):
                    pass
                server.process.kill()  # SIGKILL: no finally, no settlement
                server.process.wait(10)
        finally:
            stop_gateway(server)
        hold = Hold.objects.get()  # the request's own, or the lease it was carved from (it has no row until it settles)
        during = state_of(customer.account)
        opened = ([], [Hold.Status.OPEN]) if leased else ([Hold.Status.OPEN], [])
        assert (during.holds, during.leases, during.held, during.records) == (*opened, hold.amount_micros, [])
        assert during.held > 0 and during.balance == 100_000_000 and during.drift == []
        assert tasks.sweep_expired_holds.apply().get() == 0  # not before its expiry
        with time_machine.travel(hold.expires_at + timedelta(seconds=1)):
            assert tasks.sweep_expired_holds.apply().get() == 1
            assert tasks.sweep_expired_holds.apply().get() == 0  # idempotent
        got = state_of(customer.account)
        expect(got, ledger=[], holds=[] if leased else [Hold.Status.EXPIRED], records=[])
        assert got.leases == ([Hold.Status.EXPIRED] if leased else [])
        row["summary"] = summary(got)


async def test_duplicate_settle_call(matrix, faulty, customer):
    with matrix.row("duplicate settle call") as row:
        await run_db(make_channels, faulty, "a")
        reply = await ask(customer.key)
        await record_of(reply.request_id)
        cost = cost_of(*upstream_usage(faulty))

        def settle_again():
            price = price_snapshot(price_current(model_id=MODEL))
            facts = services.RequestFacts(account_id=customer.account.pk, model_id=MODEL)
            return services.hold_settle(
                request_id=reply.request_id, usage=Usage(input_tokens=999, output_tokens=999), price=price, facts=facts
            )

        again = await run_db(settle_again)
        assert again.replayed is True and again.cost_micros == cost  # the first charge, not a second one
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        row["summary"] = summary(got)


def test_duplicate_stripe_webhook(matrix, customer, settings):
    with matrix.row("duplicate Stripe webhook (x3)") as row:
        settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_key", SECRET
        settings.HARNMODEL_CURRENCY = "CNY"
        order = stripe_checkout(customer.account, 50_000_000)
        payload = event_payload(order)
        client = Client()
        answers = [
            client.post(
                WEBHOOK, data=payload, content_type="application/json", headers={"Stripe-Signature": sign(payload)}
            )
            for _ in range(3)
        ]
        assert [(a.status_code, a.json()["status"]) for a in answers] == [
            (200, "credited"),
            (200, "duplicate"),
            (200, "duplicate"),
        ]
        assert TopUpOrder.objects.get().status == "credited"
        got = state_of(customer.account)
        expect(got, ledger=[("topup", 50_000_000)], holds=[], records=[])
        row["summary"] = summary(got)


async def post_idem(key: str, body: dict = IDEM_BODY, idem: str = "idem-1"):
    headers = {"authorization": f"Bearer {key}", "idempotency-key": idem}
    return await AsyncClient().post(
        "/v1/responses", data=json.dumps(body), content_type="application/json", headers=headers
    )


async def test_idempotent_retry_replays(matrix, faulty, customer):
    with matrix.row("idempotent retry (same key+body)") as row:
        await run_db(make_channels, faulty, "a")
        first = await post_idem(customer.key)
        await settled()
        second = await post_idem(customer.key)
        assert (first.status_code, second.status_code, second["x-idempotent-replayed"]) == (200, 200, "true")
        assert second.content == first.content and second["x-harnmodel-cost"] == first["x-harnmodel-cost"]
        assert faulty.count("a") == 1  # the retry never reached the upstream
        cost = cost_of(*upstream_usage(faulty))
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        row["summary"] = summary(got)


async def test_idempotent_retry_while_in_flight_is_409(matrix, faulty, customer):
    with matrix.row("idempotent retry while in flight -> 409") as row:
        await run_db(make_channels, faulty, "a")
        faulty.slow("a", delay=1.0)  # the first request waits at the upstream
        first = asyncio.ensure_future(post_idem(customer.key))
        assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 1, 10)
        during = await post_idem(customer.key)
        assert during.status_code == 409 and during["x-should-retry"] == "true"
        assert (await first).status_code == 200
        await settled()
        cost = cost_of(*upstream_usage(faulty))
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        assert faulty.count("a") == 1
        row["summary"] = summary(got)


async def test_idempotency_key_with_other_body_is_400(matrix, faulty, customer):
    with matrix.row("same key, different body -> 400") as row:
        await run_db(make_channels, faulty, "a")
        assert (await post_idem(customer.key)).status_code == 200
        await settled()
        other = await post_idem(customer.key, {**IDEM_BODY, "input": "something else"})
        assert other.status_code == 400
        assert json.loads(other.content)["error"]["code"] == "idempotency_key_reused"
        cost = cost_of(*upstream_usage(faulty))
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        assert faulty.count("a") == 1
        row["summary"] = summary(got)


# -- usage beyond the hold: never delivered or charged beyond hold + balance + HARNMODEL_OVERDRAFT_LIMIT_MICROS --


async def test_upstream_reports_far_more_input_than_held(matrix, faulty, settings):
    with matrix.row("upstream reports 1M input (wallet 0.01)") as row:
        settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 50_000
        settings.ADMINS = [("ops", "ops@example.com")]
        account, key = await run_db(make_customer, "tiny@example.com", balance="0.01")
        await run_db(make_channels, faulty, "a")
        faulty.lie("a", input_tokens=1_000_000)
        reply = await ask(key)
        assert reply.status == 200  # a JSON answer cannot be taken back: its charge is bounded instead
        record = await record_of(reply.request_id)
        assert cost_of(1_000_000, record.output_tokens) > 2_500_000  # what the upstream's usage would cost
        got = await settled_state(account)
        # hold + free balance (0.01 in all) + the overdraft limit, and not one micro more
        expect(got, ledger=[("charge", -60_000)], holds=[Hold.Status.SETTLED],
               records=[(200, "charge_capped", False, 60_000)], start=10_000)
        assert got.balance == -50_000
        assert [m.subject for m in mail.outbox if reply.request_id in m.subject]  # the operators are told
        again = await ask(key)  # below zero: refused before any upstream call
        assert (again.status, again.body["error"]["code"], faulty.count("a")) == (402, "insufficient_balance", 1)
        row["summary"] = summary(got, start=10_000)


async def test_previous_response_held_at_worst_case(matrix, faulty):
    with matrix.row("previous_response_id, wallet < worst case -> 402") as row:
        account, key = await run_db(make_customer, "short@example.com", balance="0.1")
        await run_db(make_channels, faulty, "a")
        first = await ask(key)
        await record_of(first.request_id)
        # 128k stored tokens may come with it (0.32 at this price): more than the wallet has
        follow = await ask(key, previous_response_id=first.body["id"])
        assert (follow.status, follow.body["error"]["code"]) == (402, "insufficient_balance")
        assert faulty.count("a") == 1  # the upstream never saw the follow-up
        cost = cost_of(*upstream_usage(faulty))
        got = await settled_state(account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)],
               start=100_000)
        row["summary"] = summary(got, start=100_000)


async def test_stream_cut_when_upstream_ignores_the_output_cap(matrix, faulty, customer):
    with matrix.row("upstream ignores output cap (stream) -> cut") as row:
        await run_db(make_channels, faulty, "a")
        faulty.lie("a", ignore_cap=True)
        reply = await ask(customer.key, stream=True, input=LONG, max_output_tokens=20)
        assert reply.status == 200 and reply.types[-1] == "response.incomplete"
        assert reply.final["incomplete_details"] == {"reason": "max_output_tokens"}
        assert faulty.hits("a")[0].body["max_output_tokens"] == 20  # we told it; it streamed its whole answer
        record = await record_of(reply.request_id)
        # The client got no more output than the hold pays for, and is charged for what it got.
        assert 0 < count_tokens(reply.text) <= record.output_tokens <= 20 < count_tokens(answer_responses({"input": LONG}).text)
        body = {"model": MODEL, "input": LONG, "max_output_tokens": 20, "stream": True}
        cost = cost_of(local_input_tokens(body), record.output_tokens)
        assert cost <= parse_amount(reply.headers["x-harnmodel-hold"])
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED],
               records=[(200, "output_cap_reached", True, cost)])
        row["summary"] = summary(got)


async def test_stream_outlives_its_hold_ttl(matrix, faulty, customer, settings):
    with matrix.row("stream outlives hold TTL, sweeper running") as row:
        settings.HARNMODEL_HOLD_TTL_SECONDS = 1  # the relay touches the hold every 1/3 s
        settings.HARNMODEL_WALLET_LEASE_TTL_SECONDS = 1  # and the worker its lease
        await run_db(make_channels, faulty, "a")
        faulty.slow("a", delay=0.03)  # ~3 s of stream
        asked = asyncio.ensure_future(ask(customer.key, stream=True, input=LONG, max_output_tokens=1000))
        swept = 0
        while not asked.done():
            swept += await run_db(services.holds_expire)
            await asyncio.sleep(0.1)
        reply = await asked
        assert reply.status == 200 and reply.types[-1] == "response.completed" and swept == 0
        record = await record_of(reply.request_id)
        assert record.latency_ms > 2000  # it really ran past its first expiry
        cost = cost_of(*upstream_usage(faulty))
        got = await settled_state(customer.account)
        expect(got, ledger=[("charge", -cost)], holds=[Hold.Status.SETTLED], records=[(200, "", False, cost)])
        row["summary"] = summary(got)
