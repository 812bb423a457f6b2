"""The live request log names the door each request came through (issue 15: "live log and metrics by door"),
through the real ASGI application and relay, watched by a staff viewer as in tests/admin/test_live_log.py."""

import httpx
import pytest

from harnmodel.asgi import application
from tests.admin.test_live_log import _fresh_livelog, _requests, _viewer, people, support  # noqa: F401  (fixtures)
from tests.conftest import relay_settled

from .wire import DOORS

ws_db = pytest.mark.django_db(transaction=True)


@ws_db
async def test_each_request_in_the_live_log_names_its_door(support, people):  # noqa: F811
    _, alice_key, _, channel = people
    viewer = await _viewer(support)
    transport = httpx.ASGITransport(app=application)
    request_ids = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        for door in DOORS:
            response = await http.post(door.path("gpt-4o"), headers=door.headers(alice_key), json=door.body("gpt-4o"))
            assert response.status_code == 200, response.text
            request_ids[response.headers["x-request-id"]] = door.name
    await relay_settled()
    events = await _requests(viewer, len(DOORS))
    assert {event["request_id"]: event["door"] for event in events} == request_ids
    assert all(event["channel_id"] == channel.pk and event["cost_micros"] > 0 for event in events)
    await viewer.disconnect()
