"""L3: the live-log websocket accepts only the site's own origin, and production never defaults ALLOWED_HOSTS to "*"."""

import json
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from accounts import console_live
from harnmodel.asgi import application
from tests.admin.channels_testing import WebsocketCommunicator

ws_db = pytest.mark.django_db(transaction=True)


def _cookie() -> bytes:
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(origin: bytes, cookie: bytes, host: bytes = b"console.example.com") -> bool:
    headers = [(b"host", host), (b"origin", origin), (b"cookie", cookie)]
    viewer = WebsocketCommunicator(application, console_live.SOCKET_PATH, headers=headers)
    connected, _ = await viewer.connect()
    if connected:
        await viewer.disconnect()
    await sync_to_async(connections.close_all)()
    return connected


@ws_db
@pytest.mark.parametrize("origin", [b"https://evil.example", b"http://console.example.com", b"null"])
async def test_a_foreign_origin_is_refused_even_when_any_host_is_allowed(settings, origin):
    settings.ALLOWED_HOSTS = ["*"]  # the old default: AllowedHostsOriginValidator then let every origin in
    settings.HARNMODEL_SITE_URL = "https://console.example.com"
    cookie = await sync_to_async(_cookie)()
    assert not await _connect(origin, cookie)


@ws_db
async def test_the_site_origin_and_listed_hosts_are_accepted(settings):
    settings.ALLOWED_HOSTS = ["*", "ops.example.com"]
    settings.HARNMODEL_SITE_URL = "https://console.example.com"
    cookie = await sync_to_async(_cookie)()
    assert await _connect(b"https://console.example.com", cookie)
    assert await _connect(b"https://ops.example.com", cookie)


def _settings_in_a_fresh_process(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"ALLOWED_HOSTS", "DEBUG", "HARNMODEL_SITE_URL"}}
    code = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.ALLOWED_HOSTS))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "harnmodel.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_allowed_hosts_default_is_never_any_host_in_production():
    assert _settings_in_a_fresh_process(HARNMODEL_SITE_URL="https://portal.example.com") == [
        "portal.example.com", "127.0.0.1", "localhost", "[::1]"
    ]  # fmt: skip
    embedded = _settings_in_a_fresh_process()
    assert "*" not in embedded and "127.0.0.1" in embedded
    assert _settings_in_a_fresh_process(ALLOWED_HOSTS="a.example,b.example") == ["a.example", "b.example"]
    assert _settings_in_a_fresh_process(DEBUG="true") == ["*"]
