"""The customer doc page states the Responses-over-WebSocket bounds in force (gateway/relay/websocket.py)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_docs_state_the_websocket_bounds(client, settings):
    settings.HARNMODEL_WS_IDLE_SECONDS = 120
    settings.HARNMODEL_WS_MAX_TURNS = 2500
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="websocket"' in body
    assert "after 120 s without a frame" in body and "after 2,500 responses" in body
    assert "the upgrade answers 426" in body
