"""A real WebSocket client for the Responses socket tests: the `websockets` library's asyncio client."""

import asyncio
import json

from django.db.models import Sum

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet

BETA = {"OpenAI-Beta": "responses_websockets=2026-02-06"}
TERMINAL = {"response.completed", "response.incomplete", "response.failed", "error"}


def ws_url(gateway) -> str:
    return gateway.url.replace("http://", "ws://") + "/v1/responses"


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **BETA, **extra}


async def turn(ws, **body) -> list[dict]:
    """Send one response.create; return every event up to and including the terminal one."""
    await ws.send(json.dumps({"type": "response.create", **body}))
    events = []
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        events.append(event)
        if event["type"] in TERMINAL:
            return events


def books_close(account) -> None:
    """Every turn billed once: one record and one charge per request id, no open hold, wallet = ledger."""
    records = list(UsageRecord.objects.filter(account=account))
    for record in records:
        assert LedgerEntry.objects.filter(request_id=record.request_id).count() == (1 if record.cost_micros else 0)
        assert Hold.objects.get(request_id=record.request_id).status == Hold.Status.SETTLED
    assert not Hold.objects.filter(status=Hold.Status.OPEN).exists()
    ledger = LedgerEntry.objects.filter(wallet__account=account).aggregate(total=Sum("amount_micros"))["total"]
    assert Wallet.objects.get(account=account).balance_micros == ledger
