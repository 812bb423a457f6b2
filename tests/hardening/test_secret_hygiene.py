"""No secret in clear anywhere we keep things: a full scenario through a real uvicorn server, then a scan.

The server is the e2e recipe (tests/e2e/conftest.py: uvicorn on the pytest-django test database, stdout and
stderr in one log file) made as talkative as it gets: `--log-level trace` (uvicorn logs every ASGI scope,
headers included), the access log on, the proposed LOGGING (JSON, DEBUG, redaction filter) and the proposed
request log wired into the relay (tests/hardening/loud_settings.py, wired_asgi.py).

Scenario: channels with recognisable secrets (one through the admin form), a customer key, JSON and streaming
requests, an Idempotency-Key replay, upstream failures (500, 401, and a 400 whose message quotes the channel
secret), a bad key, a key in a query string; an operator walks every admin page and issues a key there.

Scanned: the server's log file, every record this process logged (caplog, DEBUG), every column of every
table (raw SQL; Django sessions decoded), every admin page. Secrets looked for: whole, by a 16-character
inner slice, and base64-encoded.
"""

import base64
import logging
import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.urls import NoReverseMatch, reverse

from billing.models import Hold
from gateway.models import ApiKey, Channel
from gateway.pool.store import secrets_of
from tests.e2e.conftest import UPSTREAM_MODEL, Gateway, launch_gateway, stop_gateway, wait_for
from tests.factories import make_channel, make_customer, make_model
from tests.upstream.server import UpstreamServer

pytestmark = pytest.mark.django_db(transaction=True)

CHANNEL_SECRET = "chan-" + secrets.token_hex(20)  # no `sk-`: the redaction filter would not save it
ADMIN_CHANNEL_SECRET = "sk-admin-" + secrets.token_hex(20)


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def loud_gateway(django_db_setup, tmp_path_factory) -> Iterator[Gateway]:
    """uvicorn as in tests/e2e/conftest.py, logging everything it can."""

    server = launch_gateway(
        tmp_path_factory.mktemp("hygiene") / "uvicorn.log",
        app="tests.hardening.wired_asgi:application",
        uvicorn_args=("--log-level", "trace"),
        DJANGO_SETTINGS_MODULE="tests.hardening.loud_settings",
        HARNMODEL_DRAIN_SECONDS="5",
    )
    try:
        yield server
    finally:
        stop_gateway(server)


# -- what counts as "in clear" ----------------------------------------------------------------------------------------
def needles(secret: str) -> list[str]:
    middle = len(secret) // 2
    return [
        secret,
        secret[middle - 8 : middle + 8],
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
    ]


def leaks(text: str, secrets_: dict[str, str]) -> list[str]:
    return [
        f"{name} ({needle[:6]}…)" for name, secret in secrets_.items() for needle in needles(secret) if needle in text
    ]


def dump_database() -> str:
    """Every column of every table, as text; Django sessions decoded (signing is not encryption)."""
    out: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    out.append(f"{table}.{column}={value}")
                    if table == "django_session" and column == "session_data":
                        out.append(f"{table}.decoded={SessionStore().decode(value)}")
    return "\n".join(out)


def admin_pages(client) -> dict[str, str]:
    """Every admin changelist, add form and change form (of up to five rows per model)."""
    pages: dict[str, str] = {"index": client.get(reverse("admin:index")).content.decode()}
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        try:
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        except NoReverseMatch:
            pass
        for pk in model._default_manager.values_list("pk", flat=True)[:5]:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[pk]))
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 302, 403), (url, response.status_code)
            pages[url] = response.content.decode()
    return pages


# -- the scenario ---------------------------------------------------------------------------------------------------
def test_no_secret_in_logs_database_or_admin(loud_gateway, upstream, client, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    upstream.reset()
    upstream.expected_secret = CHANNEL_SECRET
    make_model("gpt-4o")
    channel = make_channel(
        "hygiene-up",
        provider="openai_responses",
        base_url=upstream.base_url,
        secret=CHANNEL_SECRET,
        models={"gpt-4o": UPSTREAM_MODEL},
    )
    account, key = make_customer("hygiene@example.com", balance="100")
    watched = {"api key": key, "channel secret": CHANNEL_SECRET, "admin channel secret": ADMIN_CHANNEL_SECRET}
    auth = {"authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o", "input": [{"role": "user", "content": "hello hygiene"}]}
    answers: list[httpx.Response] = []

    with httpx.Client(base_url=loud_gateway.url, timeout=30) as http:
        answers.append(http.post("/v1/responses", json=body, headers=auth))
        answers.append(http.post("/v1/responses", json={**body, "stream": True}, headers=auth))
        replayed = {**auth, "idempotency-key": "hygiene-1"}
        answers += [http.post("/v1/responses", json=body, headers=replayed) for _ in range(2)]
        upstream.fail_next = (500, {"error": {"message": "boom", "type": "server_error"}})
        answers.append(http.post("/v1/responses", json=body, headers=auth))
        upstream.fail_next = (400, {"error": {"message": f"Bad request for key {CHANNEL_SECRET}", "code": "x"}})
        quoted = http.post("/v1/responses", json=body, headers=auth)
        answers.append(http.post("/v1/responses", json=body, headers={"authorization": "Bearer sk-" + "Z" * 48}))
        answers.append(http.post(f"/v1/responses?api_key={key}", json=body, headers=auth))
        answers.append(http.post("/v1/responses", content=b'{"model": "gpt-4o", "input": [', headers=auth))
        # Last: a refused credential is switched off (gateway/pool), and this channel has only the one.
        upstream.fail_next = (401, {"error": {"message": f"Incorrect API key provided: {CHANNEL_SECRET}"}})
        answers.append(http.post("/v1/responses", json={**body, "stream": True}, headers=auth))
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 200, 200, 502, 401, 200, 400, 502], statuses
    assert answers[3].headers["x-idempotent-replayed"] == "true"
    assert quoted.status_code == 400
    wait_for(lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(), timeout=15, what="holds to close")

    # The operator: a channel with a secret through the admin form (one bad submission first), a key issued there.
    client.force_login(admin_user)
    channel_form = {
        "name": "admin-made",
        "provider": "openai_responses",
        "base_url": "ftp://nope",
        "priority": 0,
        "weight": 1,
        "enabled": "on",
        "options": "{}",
        "new_secret": ADMIN_CHANNEL_SECRET,
        "model_maps-TOTAL_FORMS": "0",
        "model_maps-INITIAL_FORMS": "0",
        "credentials-TOTAL_FORMS": "0",
        "credentials-INITIAL_FORMS": "0",
    }
    rejected = client.post(reverse("admin:gateway_channel_add"), channel_form)
    assert rejected.status_code == 200 and b"errornote" in rejected.content
    created = client.post(reverse("admin:gateway_channel_add"), {**channel_form, "base_url": upstream.base_url})
    assert created.status_code == 302, created.content.decode()[:2000]
    assert list(secrets_of(Channel.objects.get(name="admin-made")).values()) == [ADMIN_CHANNEL_SECRET]
    issued_page = client.post(
        reverse("admin:gateway_apikey_add"), {"account": account.pk, "name": "from admin"}, follow=True
    ).content.decode()
    issued = re.search(r"sk-[A-Za-z0-9]{48}", issued_page)
    assert issued, "the admin shows a new key once"
    watched["admin-issued key"] = issued.group(0)
    assert ApiKey.objects.filter(name="from admin").exists()
    pages = admin_pages(client)

    # Positive control: the secrets did travel (the upstream got the channel's, the DB holds it encrypted).
    assert upstream.received()[0].headers["authorization"] == f"Bearer {CHANNEL_SECRET}"
    assert list(secrets_of(Channel.objects.get(pk=channel.pk)).values()) == [CHANNEL_SECRET]

    server_log = loud_gateway.log()
    assert '"logger":"harnmodel.request"' in server_log, "the request log is part of what is scanned"
    assert "Started scope=" in server_log, "uvicorn's trace (headers included) is part of what is scanned"
    database = dump_database()
    found = {
        "server log": leaks(server_log, watched),
        "test-process log": leaks(caplog.text, watched),
        "database": leaks(database, watched),
        **{f"admin {url}": leaks(html, watched) for url, html in pages.items()},
    }
    print(
        f"\n[hygiene] scanned: server log {len(server_log.splitlines())} lines, test log {len(caplog.records)} "
        f"records, database {len(connection.introspection.table_names())} tables / {len(database.splitlines())} "
        f"values, admin {len(pages)} pages, for {len(watched)} secrets"
    )
    assert {where: what for where, what in found.items() if what} == {}


def test_an_upstream_message_quoting_the_channel_secret_does_not_reach_the_client(loud_gateway, upstream):
    upstream.reset()
    make_model("gpt-4o")
    make_channel(
        "quoting-up",
        provider="openai_responses",
        base_url=upstream.base_url,
        secret=CHANNEL_SECRET,
        models={"gpt-4o": UPSTREAM_MODEL},
    )
    _, key = make_customer("quoted@example.com", balance="100")
    upstream.fail_next = (400, {"error": {"message": f"Bad request for key {CHANNEL_SECRET}", "code": "x"}})
    with httpx.Client(base_url=loud_gateway.url, timeout=30) as http:
        answer = http.post(
            "/v1/responses", json={"model": "gpt-4o", "input": "hi"}, headers={"authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 400
    assert CHANNEL_SECRET not in answer.text
