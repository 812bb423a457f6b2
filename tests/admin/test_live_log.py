"""The live request log: who may watch, what a viewer sees (through the real relay, in-process), per-connection
filters, the publisher's bound and drop counter, the page, and which channel layer carries the events."""

import asyncio
import json

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.urls import reverse

from accounts import console_live
from accounts.live_filters import FilterError, LiveFilters, parse_filters
from billing.pricing import Usage
from billing.services import RequestFacts
from gateway.observe import livelog, metrics, request_log
from gateway.relay.front import GatewayApp
from harnmodel.asgi import application
from tests.admin.channels_testing import WebsocketCommunicator
from tests.conftest import relay_settled
from tests.factories import make_channel, make_customer, make_model

ws_db = pytest.mark.django_db(transaction=True)
SOCKET = console_live.SOCKET_PATH
PROMPT = "the quarterly numbers nobody may see"


def _operator(username: str, *, staff: bool = True, perm: bool = True, superuser: bool = False) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=staff, is_superuser=superuser)
    if perm:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="billing", codename="view_usagerecord"))
    return user


def _cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _dropped(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("harnmodel_livelog_dropped_total", {"reason": reason}) or 0.0


@pytest.fixture
def support(transactional_db) -> bytes:
    """The session cookie of a staff operator allowed to read usage records (not a superuser)."""
    return _cookie(_operator("sam"))


@pytest.fixture
def people(transactional_db):
    make_model("gpt-4o")
    channel = make_channel("sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0})
    alice, alice_key = make_customer("alice@example.com", balance="100")
    bob, _ = make_customer("bob@example.com", balance="100")
    return alice, alice_key, bob, channel


@pytest.fixture(autouse=True)
async def _fresh_livelog(request):
    await asyncio.to_thread(cache.delete, livelog.WATCH_KEY)
    yield
    await livelog.stop()
    await asyncio.to_thread(cache.delete, livelog.WATCH_KEY)
    # The consumer's and session middleware's queries ran in asgiref's shared thread: its connection must not
    # outlive the test (CONN_MAX_AGE keeps it), or the test database cannot be dropped. Only tests that may
    # use the database can touch it (pytest-django refuses the others, even to close).
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        await database_sync_to_async(connections.close_all)()


async def _open(cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    viewer = WebsocketCommunicator(application, SOCKET, headers=headers)
    connected, _ = await viewer.connect()
    assert connected
    return viewer


async def _viewer(cookie: bytes) -> WebsocketCommunicator:
    viewer = await _open(cookie)
    hello = await viewer.receive_json_from()
    assert hello == {"type": "filters", "filters": {"customer": "", "model": "", "channel": "", "status": ""}, "events": []}
    return viewer


async def _closed_with(viewer: WebsocketCommunicator) -> int:
    message = await viewer.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return message["code"]


async def _requests(viewer: WebsocketCommunicator, count: int) -> list[dict]:
    """The next `count` events this viewer is sent (they may come in several batches)."""
    events: list[dict] = []
    while len(events) < count:
        message = await viewer.receive_json_from(timeout=5)
        assert message["type"] == "requests"
        events.extend(message["events"])
    assert len(events) == count
    return events


def _publish(account_id: int, request_id: str, *, channel_id: int | None = None, status: int = 200, model="gpt-4o"):
    facts = RequestFacts(account_id=account_id, model_id=model, channel_id=channel_id, status=status, latency_ms=12)
    request_log.log_request(
        facts, request_id=request_id, key_prefix="sk-abc123", usage=Usage(input_tokens=5, output_tokens=7), cost_micros=81
    )


# -- who may watch ---------------------------------------------------------------------------------------------


@ws_db
async def test_anonymous_viewers_are_closed_with_4401():
    viewer = await _open()
    assert await _closed_with(viewer) == console_live.NOT_SIGNED_IN


@ws_db
@pytest.mark.parametrize("staff,perm", [(True, False), (False, True)], ids=["staff-without-permission", "not-staff"])
async def test_operators_without_the_right_are_closed_with_4403(staff, perm):
    cookie = await sync_to_async(lambda: _cookie(_operator("pat", staff=staff, perm=perm)))()
    viewer = await _open(cookie)
    assert await _closed_with(viewer) == console_live.FORBIDDEN


@ws_db
async def test_with_totp_on_a_password_only_session_is_refused(settings):
    settings.HARNMODEL_ADMIN_TOTP = True
    cookie = await sync_to_async(lambda: _cookie(_operator("root", superuser=True)))()
    viewer = await _open(cookie)
    assert await _closed_with(viewer) == console_live.FORBIDDEN


@ws_db
async def test_a_demoted_operator_is_disconnected(support, monkeypatch):
    monkeypatch.setattr(console_live, "RECHECK_SECONDS", 0.05)
    viewer = await _viewer(support)
    await sync_to_async(User.objects.filter(username="sam").update)(is_staff=False)
    assert await _closed_with(viewer) == console_live.FORBIDDEN


# -- what a viewer sees ----------------------------------------------------------------------------------------


@ws_db
async def test_a_request_through_the_relay_appears_for_a_staff_viewer(support, people):
    alice, alice_key, _, channel = people
    viewer = await _viewer(support)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.post(
            "/v1/responses",
            json={"model": "gpt-4o", "input": PROMPT},
            headers={"authorization": f"Bearer {alice_key}"},
        )
    await relay_settled()
    assert response.status_code == 200
    [event] = await _requests(viewer, 1)
    assert event["request_id"] == response.headers["x-request-id"]
    assert (event["account_id"], event["account_email"]) == (alice.pk, "alice@example.com")
    assert (event["model"], event["channel_id"], event["channel_name"]) == ("gpt-4o", channel.pk, "sim")
    assert event["status"] == 200 and event["input_tokens"] > 0 and event["output_tokens"] > 0
    assert event["cost_micros"] > 0 and event["cost"].startswith("¥")
    assert alice_key.startswith(event["key_prefix"]) and len(event["key_prefix"]) < len(alice_key) // 2
    wire = json.dumps(event)
    assert alice_key not in wire and PROMPT not in wire
    await viewer.disconnect()


@ws_db
async def test_filters_apply_per_connection_and_redraw_without_reconnecting(support, people):
    alice, _, bob, channel = people
    everything, bobs = await _viewer(support), await _viewer(support)
    await bobs.send_json_to({"type": "filters", "customer": "BOB@"})
    assert (await bobs.receive_json_from())["filters"]["customer"] == "BOB@"

    _publish(alice.pk, "r-alice", channel_id=channel.pk)
    _publish(bob.pk, "r-bob", channel_id=channel.pk, status=502)
    _publish(alice.pk, "r-other-model", model="deepseek-chat")
    assert [e["request_id"] for e in await _requests(everything, 3)] == ["r-alice", "r-bob", "r-other-model"]
    assert [e["request_id"] for e in await _requests(bobs, 1)] == ["r-bob"]
    assert await bobs.receive_nothing(timeout=0.3)

    async def redraw(**filters) -> list[str]:
        await everything.send_json_to({"type": "filters", **filters})
        answer = await everything.receive_json_from()
        assert answer["type"] == "filters"
        return [e["request_id"] for e in answer["events"]]

    assert await redraw(status="5xx") == ["r-bob"]
    assert await redraw(status="ok") == ["r-alice", "r-other-model"]
    assert await redraw(model="deepseek") == ["r-other-model"]
    assert await redraw(channel="sim") == ["r-alice", "r-bob"]
    assert await redraw(channel=str(channel.pk), customer=str(alice.pk)) == ["r-alice"]
    assert await redraw() == ["r-alice", "r-bob", "r-other-model"]
    await everything.disconnect()
    await bobs.disconnect()


@ws_db
async def test_bad_messages_get_an_error_and_the_socket_stays_open(support):
    viewer = await _viewer(support)
    await viewer.send_to(text_data="not json")
    assert (await viewer.receive_json_from())["type"] == "error"
    await viewer.send_json_to({"type": "filters", "status": "teapot"})
    assert await viewer.receive_json_from() == {
        "type": "error",
        "message": "status must be ok, error, 4xx, 5xx or an HTTP status code",
        "param": "status",
    }
    await viewer.send_json_to({"type": "filters", "model": ["gpt"]})
    assert (await viewer.receive_json_from())["param"] == "model"
    await viewer.send_json_to({"type": "filters", "status": "429"})
    assert (await viewer.receive_json_from())["filters"]["status"] == "429"
    await viewer.disconnect()


# -- the publisher never costs the relay -----------------------------------------------------------------------


@ws_db
async def test_without_viewers_nothing_is_queued(people):
    alice, *_ = people
    _publish(alice.pk, "r-unwatched")
    assert livelog.pending() == 0


@ws_db
async def test_the_queue_is_bounded_and_drops_are_counted(support, people):
    alice, *_ = people
    viewer = await _viewer(support)
    before = _dropped("queue_full")
    extra = 25
    for n in range(livelog.MAX_PENDING + extra):  # no await in between: the drainer cannot run
        _publish(alice.pk, f"r-{n}")
    assert livelog.pending() == livelog.MAX_PENDING
    assert _dropped("queue_full") - before == extra
    events = await _requests(viewer, livelog.MAX_PENDING)
    assert [e["request_id"] for e in events] == [f"r-{n}" for n in range(livelog.MAX_PENDING)]
    assert livelog.pending() == 0
    await viewer.disconnect()


def test_publishing_outside_an_event_loop_is_counted_never_raised():
    before = _dropped("no_loop")
    livelog.publish(object(), request_id="r", key_prefix="p", usage=None, cost_micros=0)
    assert _dropped("no_loop") - before == 1


@ws_db
async def test_a_broken_event_is_counted_and_the_drainer_carries_on(support, people):
    alice, *_ = people
    viewer = await _viewer(support)
    before = _dropped("send_failed")
    livelog.publish(object(), request_id="r-broken", key_prefix="p", usage=None, cost_micros=0)
    await asyncio.sleep(0.2)  # let the drainer take the broken one alone
    _publish(alice.pk, "r-after")
    assert [e["request_id"] for e in await _requests(viewer, 1)] == ["r-after"]
    assert _dropped("send_failed") - before == 1
    await viewer.disconnect()


@ws_db
async def test_without_a_channel_layer_events_are_counted_not_raised(people, settings):
    alice, *_ = people
    settings.CHANNEL_LAYERS = {}
    assert get_channel_layer() is None
    before = _dropped("send_failed")
    await livelog.announce_watcher()
    _publish(alice.pk, "r-nowhere")
    for _ in range(100):
        if _dropped("send_failed") > before:
            break
        await asyncio.sleep(0.02)
    assert _dropped("send_failed") - before == 1


# -- wiring ----------------------------------------------------------------------------------------------------


def test_the_layer_is_redis_with_redis_url_and_memory_without():
    expected = RedisChannelLayer if django_settings.REDIS_URL else InMemoryChannelLayer
    assert type(get_channel_layer()) is expected


@ws_db
@pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL")
async def test_events_cross_redis_to_another_process_layer(people):
    """A second, independent Redis layer (as another worker would hold) receives what this one publishes."""
    alice, *_ = people
    other = RedisChannelLayer(**django_settings.CHANNEL_LAYERS["default"]["CONFIG"])
    channel = await other.new_channel()
    await other.group_add(livelog.GROUP, channel)
    try:
        await livelog.announce_watcher()
        _publish(alice.pk, "r-via-redis")
        message = await asyncio.wait_for(other.receive(channel), timeout=5)
    finally:
        await other.group_discard(livelog.GROUP, channel)
        await other.close_pools()
    assert message["type"] == livelog.MESSAGE_TYPE
    assert [e["request_id"] for e in json.loads(message["events_json"])] == ["r-via-redis"]


def test_http_and_lifespan_still_reach_the_gateway_app():
    mapping = application.application_mapping
    assert isinstance(mapping["http"], GatewayApp)
    assert mapping["lifespan"] is mapping["http"]
    assert "websocket" in mapping


# -- the page --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_is_for_operators_who_may_read_usage(client):
    url = reverse("admin:live_log")
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(_operator("nope", perm=False))
    assert client.get(url).status_code == 403
    client.force_login(_operator("sam"))
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert f'data-socket-path="{SOCKET}"' in body and "console/live_log.js" in body


@pytest.mark.django_db
def test_the_control_room_links_to_the_live_log(client):
    client.force_login(_operator("root", superuser=True))
    assert reverse("admin:live_log") in client.get(reverse("admin:ops")).content.decode()


# -- filters, pure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message,param",
    [({"status": "²"}, "status"), ({"status": "600"}, "status"), ({"customer": "x" * 201}, "customer"),
     ({"channel": True}, "channel"), ({"model": {"a": 1}}, "model")],
)  # fmt: skip
def test_bad_filters_name_their_field(message, param):
    with pytest.raises(FilterError) as caught:
        parse_filters(message)
    assert caught.value.param == param


def test_filters_are_trimmed_and_ids_may_be_numbers():
    filters = parse_filters({"customer": 7, "model": "  gpt ", "channel": None, "status": "5XX", "other": "ignored"})
    assert filters == LiveFilters(customer="7", model="gpt", channel="", status="5xx")
    event = {"account_id": 7, "account_name": "n", "model": "gpt-4o", "channel_id": None, "status": 503}
    assert filters.matches(event)
    assert not filters.matches({**event, "account_id": 70})  # an id is exact, not a prefix
    assert not filters.matches({**event, "status": 429})
