"""A local Stripe API (aiohttp) for auto top-up: customers, Checkout in setup mode, SetupIntents with
their PaymentMethod, off-session PaymentIntents (create, retrieve, cancel), refunds. The official `stripe`
library talks to it over HTTP when `stripe.api_base` points here, so its form encoding, error
mapping (402 → CardError) and idempotency-key header run for real.

Like Stripe: every request needs `Authorization: Bearer <secret key>`; a create with an
`Idempotency-Key` seen before gets the first answer again, byte for byte (errors included); a charge
that fails answers 402 `card_error` with the PaymentIntent in the error, status
`requires_payment_method`; one needing 3-D Secure answers 200 with status `requires_action`.

The customer's side: the setup session's `url` is a page here that saves a card (`outcome` below) and
redirects to the session's success URL, as Stripe's does; or `complete_setup(session_id, outcome=...)`
(a card saved on Stripe's page without a browser; the
outcome is what charges to it do: "succeed", "decline", "authentication_required", "requires_action",
"processing"), and `event(type, object)` + `sign(payload, secret)`, the webhook Stripe would post.
Faults: `fail_next` (HTTP statuses for the next requests, whatever they are).
"""

import hashlib
import hmac
import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.upstream.threaded import ThreadedServer

_ids = itertools.count(1)
PARAMS = web.RequestKey("params", dict)


def _id(prefix: str) -> str:
    return f"{prefix}_test_{next(_ids):06d}"


def _nested(form) -> dict[str, Any]:
    """Stripe's form encoding (`metadata[order_id]=…`, `expand[0]=…`) back into dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def sign(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """Stripe's webhook signature: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload.decode()}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str


class FakeStripe(ThreadedServer):
    thread_name = "fake-stripe"

    def __init__(self, secret_key: str = "sk_test_key", host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret_key, self.host, self.port = secret_key, host, port
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.setup_intents: dict[str, dict] = {}
        self.payment_methods: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.outcomes: dict[str, str] = {}  # payment method → what charging it does
        self.replies: dict[str, tuple[int, str]] = {}  # idempotency key → first answer
        self.requests: list[Seen] = []
        self.fail_next: list[int] = []
        self.page_outcome = "succeed"  # what charges to a card saved on the hosted page do
        self.return_origin = ""  # when set, the hosted page sends the browser back to this origin

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- the customer's side ---------------------------------------------------------------------

    def complete_setup(self, session_id: str, *, outcome: str = "succeed", brand: str = "visa", last4: str = "4242"):
        """The customer saved a card on the setup page. Returns the completed session."""
        session = self.sessions[session_id]
        method = {"id": _id("pm"), "object": "payment_method", "type": "card", "customer": session["customer"],
                  "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030}}  # fmt: skip
        self.payment_methods[method["id"]] = method
        self.outcomes[method["id"]] = outcome
        intent = {"id": session["setup_intent"], "object": "setup_intent", "status": "succeeded",
                  "customer": session["customer"], "payment_method": method["id"], "usage": "off_session",
                  "metadata": session["metadata"]}  # fmt: skip
        self.setup_intents[intent["id"]] = intent
        session.update(status="complete")
        return session

    def set_outcome(self, payment_method_id: str, outcome: str) -> None:
        self.outcomes[payment_method_id] = outcome

    def event(self, kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
        event = {"id": event_id or _id("evt"), "object": "event", "type": kind, "api_version": "2024-06-20",
                 "created": int(time.time()), "livemode": False, "data": {"object": obj}}  # fmt: skip
        return json.dumps(event).encode()

    def charges(self) -> list[Seen]:
        return [r for r in self.requests if (r.method, r.path) == ("POST", "/v1/payment_intents")]

    # --- the API ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/v1/customers", self._customer)
        app.router.add_post("/v1/checkout/sessions", self._session_create)
        app.router.add_get("/v1/checkout/sessions/{id}", self._session_get)
        app.router.add_post("/v1/payment_intents", self._intent_create)
        app.router.add_get("/v1/payment_intents/{id}", self._intent_get)
        app.router.add_post("/v1/payment_intents/{id}/cancel", self._intent_cancel)
        app.router.add_post("/v1/refunds", self._refund)
        app.router.add_get("/c/pay/{id}", self._hosted_page)
        return app

    @staticmethod
    def _json(status: int, body: dict) -> web.Response:
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    @web.middleware
    async def _gate(self, request: web.Request, handler) -> web.StreamResponse:
        params = _nested(await request.post()) if request.method == "POST" else _nested(request.query)
        key = request.headers.get("Idempotency-Key", "")
        self.requests.append(Seen(request.method, request.path, params, key))
        request[PARAMS] = params
        if self.fail_next:
            status = self.fail_next.pop(0)
            return self._json(status, {"error": {"type": "api_error", "message": "fake outage"}})
        hosted = request.path.startswith("/c/pay/")  # the customer's browser: no API key
        if not hosted and request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            return self._json(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
        if request.method == "POST" and key and key in self.replies:
            status, text = self.replies[key]
            return web.Response(status=status, text=text, content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})  # fmt: skip
        response = await handler(request)
        if request.method == "POST" and key and isinstance(response, web.Response):
            self.replies[key] = (response.status, response.text or "")
        return response

    async def _customer(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        customer = {"id": _id("cus"), "object": "customer", "email": params.get("email"),
                    "metadata": params.get("metadata", {})}  # fmt: skip
        self.customers[customer["id"]] = customer
        return self._json(200, customer)

    async def _session_create(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        if params.get("mode") != "setup" or params.get("customer") not in self.customers:
            return self._json(
                400, {"error": {"type": "invalid_request_error", "message": "setup mode, known customer"}}
            )
        session_id = _id("cs")
        session = {"id": session_id, "object": "checkout.session", "mode": "setup", "status": "open",
                   "customer": params["customer"], "setup_intent": _id("seti"), "payment_status": "no_payment_required",
                   "metadata": params.get("metadata", {}), "success_url": params.get("success_url"),
                   "url": f"{self.base_url}/c/pay/{session_id}"}  # fmt: skip
        self.sessions[session_id] = session
        return self._json(200, session)

    async def _session_get(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return self._json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
        shown = dict(session)
        if "setup_intent.payment_method" in request[PARAMS].get("expand", {}).values():
            intent = self.setup_intents.get(session["setup_intent"])
            if intent is not None:
                shown["setup_intent"] = {**intent, "payment_method": self.payment_methods[intent["payment_method"]]}
        return self._json(200, shown)

    async def _intent_create(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        method = self.payment_methods.get(params.get("payment_method", ""))
        if method is None or method["customer"] != params.get("customer"):
            error = {"type": "invalid_request_error", "code": "resource_missing", "message": "No such PaymentMethod"}
            return self._json(400, {"error": error})
        outcome = self.outcomes.get(method["id"], "succeed")
        amount = int(params["amount"])
        intent = {"id": _id("pi"), "object": "payment_intent", "amount": amount, "amount_received": 0,
                  "currency": params["currency"], "customer": params["customer"], "payment_method": method["id"],
                  "metadata": params.get("metadata", {}), "status": "succeeded", "last_payment_error": None,
                  "off_session": params.get("off_session"), "confirm": params.get("confirm")}  # fmt: skip
        self.intents[intent["id"]] = intent
        if outcome == "succeed":
            intent["amount_received"] = amount
        elif outcome == "processing":
            intent["status"] = "processing"
        elif outcome == "requires_action":
            intent["status"] = "requires_action"
        else:  # decline, authentication_required: Stripe answers 402 with the intent inside the error
            code = "card_declined" if outcome == "decline" else "authentication_required"
            error = {"type": "card_error", "code": code, "message": f"fake {code}", "payment_method": method}
            intent.update(status="requires_payment_method", last_payment_error=error)
            return self._json(402, {"error": {**error, "payment_intent": intent}})
        return self._json(200, intent)

    async def _intent_get(self, request: web.Request) -> web.Response:
        intent = self.intents.get(request.match_info["id"])
        if intent is None:
            return self._json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
        return self._json(200, intent)

    async def _intent_cancel(self, request: web.Request) -> web.Response:
        intent = self.intents.get(request.match_info["id"])
        if intent is None:
            return self._json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
        if intent["status"] == "succeeded":
            return self._json(
                400, {"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}}
            )
        intent["status"] = "canceled"
        return self._json(200, intent)

    async def _refund(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return self._json(400, {"error": {"type": "invalid_request_error", "code": "charge_not_refundable"}})
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"])
        amount = int(params.get("amount", intent["amount_received"] - refunded))
        if amount + refunded > intent["amount_received"]:
            return self._json(400, {"error": {"type": "invalid_request_error", "code": "amount_too_large"}})
        refund = {"id": _id("re"), "object": "refund", "amount": amount, "payment_intent": intent["id"],
                  "status": "succeeded", "metadata": params.get("metadata", {})}  # fmt: skip
        self.refunds[refund["id"]] = refund
        return self._json(200, refund)

    async def _hosted_page(self, request: web.Request) -> web.StreamResponse:
        """Stripe's hosted setup page, with a customer who saves a card at once."""
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return self._json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
        self.complete_setup(session["id"], outcome=self.page_outcome)
        back = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        if self.return_origin:  # the portal's links carry HARNMODEL_SITE_URL; a test server has its own port
            back = re.sub(r"^https?://[^/]+", self.return_origin, back)
        raise web.HTTPFound(back)
