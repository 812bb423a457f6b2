"""Prometheus metrics: what observe_request and friends record, who may scrape /metrics, and that several
worker processes sharing PROMETHEUS_MULTIPROC_DIR add up in one scrape."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from celery.signals import task_failure, task_success
from prometheus_client.metrics import MetricWrapperBase

from billing import services as billing_services
from billing.pricing import Usage
from billing.selectors import price_current, price_snapshot
from gateway.observe import metrics
from gateway.relay import breaker
from gateway.relay import job as relay
from tests.factories import make_channel, make_customer, make_model
from tests.hardening.support import relay_is_wired, wired_settle

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.urls("tests.hardening.urls")


APP_METRICS = [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def sample(name: str, **labels: str) -> float:
    """One sample of our own metrics (not the registry: its database collector would query)."""
    for metric in APP_METRICS:
        for family in metric.collect():
            for found in family.samples:
                if found.name == name and found.labels == labels:
                    return found.value
    return 0.0


def facts(**overrides) -> billing_services.RequestFacts:
    values = dict(
        account_id=1, model_id="gpt-test", channel_id=7, status=200, latency_ms=1500, first_byte_ms=300, attempts=[]
    )
    return billing_services.RequestFacts(**{**values, **overrides})


# -- recording ------------------------------------------------------------------------------------------------------
def test_observe_request_counts_request_latency_tokens_and_spend():
    before = {
        "requests": sample("harnmodel_requests_total", model="gpt-test", status="200", channel="7"),
        "latency": sample("harnmodel_request_duration_seconds_count", model="gpt-test", status="200", channel="7"),
        "slow": sample(
            "harnmodel_request_duration_seconds_bucket", model="gpt-test", status="200", channel="7", le="1.0"
        ),
        "input": sample("harnmodel_tokens_total", model="gpt-test", direction="input"),
        "output": sample("harnmodel_tokens_total", model="gpt-test", direction="output"),
        "spend": sample("harnmodel_spend_micros_total", model="gpt-test"),
    }
    usage = Usage(input_tokens=120, cached_input_tokens=20, output_tokens=30)
    metrics.observe_request(facts(), usage=usage, cost_micros=4321, attempts=[{"channel": 7, "status": 200, "ms": 290}])

    assert sample("harnmodel_requests_total", model="gpt-test", status="200", channel="7") == before["requests"] + 1
    assert (
        sample("harnmodel_request_duration_seconds_count", model="gpt-test", status="200", channel="7")
        == before["latency"] + 1
    )
    # 1.5 s is above the 1 s bucket
    assert (
        sample("harnmodel_request_duration_seconds_bucket", model="gpt-test", status="200", channel="7", le="1.0")
        == before["slow"]
    )
    assert sample("harnmodel_tokens_total", model="gpt-test", direction="input") == before["input"] + 120
    assert sample("harnmodel_tokens_total", model="gpt-test", direction="output") == before["output"] + 30
    assert sample("harnmodel_spend_micros_total", model="gpt-test") == before["spend"] + 4321


def test_failed_attempts_count_as_upstream_errors_and_failovers():
    attempts = [
        {"channel": 11, "status": 503, "ms": 20, "error": "upstream_error"},
        {"channel": 12, "status": 0, "ms": 10_000, "error": "timeout"},
        {"channel": 13, "status": 200, "ms": 50},
    ]
    before = [sample("harnmodel_failovers_total", channel=c) for c in ("11", "12", "13")]
    errors = (
        sample("harnmodel_upstream_errors_total", channel="11", code="upstream_error"),
        sample("harnmodel_upstream_errors_total", channel="12", code="timeout"),
    )
    metrics.observe_request(facts(channel_id=13), usage=None, cost_micros=0, attempts=attempts)

    assert [sample("harnmodel_failovers_total", channel=c) for c in ("11", "12", "13")] == [
        before[0] + 1,
        before[1] + 1,
        before[2],
    ]
    assert sample("harnmodel_upstream_errors_total", channel="11", code="upstream_error") == errors[0] + 1
    assert sample("harnmodel_upstream_errors_total", channel="12", code="timeout") == errors[1] + 1


def test_a_request_no_channel_answered_is_labelled_none():
    before = sample("harnmodel_requests_total", model="gpt-test", status="503", channel="none")
    metrics.observe_request(facts(channel_id=None, status=503, first_byte_ms=None), usage=None, cost_micros=0)
    assert sample("harnmodel_requests_total", model="gpt-test", status="503", channel="none") == before + 1


def test_recording_never_raises(caplog):
    metrics.observe_request(object(), usage=None, cost_micros=0)
    metrics.set_breaker_state(3, "melted")
    assert "observe_request failed" in caplog.text and "set_breaker_state failed" in caplog.text


def test_breaker_state_hook():
    class Route:
        id = 21

    metrics.set_breaker_state(Route(), "open")
    assert sample("harnmodel_breaker_state", channel="21", model="") == 2
    metrics.set_breaker_state(21, "half_open")
    assert sample("harnmodel_breaker_state", channel="21", model="") == 1
    metrics.set_breaker_state("21", 0)
    assert sample("harnmodel_breaker_state", channel="21", model="") == 0
    metrics.set_breaker_state(21, "open", model="gpt-4o")
    assert sample("harnmodel_breaker_state", channel="21", model="gpt-4o") == 2


async def test_inflight_gauge_goes_up_and_down_even_on_errors():
    start = sample("harnmodel_relay_inflight")
    with metrics.inflight():
        with metrics.inflight():
            assert sample("harnmodel_relay_inflight") == start + 2
    with pytest.raises(RuntimeError), metrics.inflight():
        raise RuntimeError
    assert sample("harnmodel_relay_inflight") == start


def test_rejections_by_status_and_code():
    before = sample("harnmodel_rejected_requests_total", status="401", code="invalid_auth_header")
    metrics.observe_rejection(status=401, code="invalid_auth_header")
    assert sample("harnmodel_rejected_requests_total", status="401", code="invalid_auth_header") == before + 1


def test_celery_task_outcomes_are_counted():
    from billing.tasks import sweep_expired_holds

    name = sweep_expired_holds.name
    ok, failed = (sample("harnmodel_celery_tasks_total", task=name, outcome=o) for o in ("success", "failure"))
    task_success.send(sender=sweep_expired_holds, result=0)
    task_failure.send(sender=sweep_expired_holds, task_id="t1", exception=RuntimeError("x"))
    assert sample("harnmodel_celery_tasks_total", task=name, outcome="success") == ok + 1
    assert sample("harnmodel_celery_tasks_total", task=name, outcome="failure") == failed + 1


# -- /metrics --------------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_loopback_may_scrape_without_a_token(client, settings):
    settings.HARNMODEL_METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["content-type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert "# TYPE harnmodel_requests_total counter" in text
    assert "harnmodel_database_up 1.0" in text
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200


@pytest.mark.django_db
def test_others_get_a_404_without_a_token(client, settings):
    settings.HARNMODEL_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="not-an-ip").status_code == 404
    settings.HARNMODEL_METRICS_ALLOW_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    settings.HARNMODEL_METRICS_ALLOW_NETWORKS = "192.0.2.0/24, 127.0.0.1/32"
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200


@pytest.mark.django_db
def test_with_a_token_only_the_token_opens_it(client, settings):
    settings.HARNMODEL_METRICS_TOKEN = "scrape-me-0123456789"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", REMOTE_ADDR="127.0.0.1")
    assert wrong.status_code == 403
    assert b"scrape-me" not in wrong.content
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789", REMOTE_ADDR="203.0.113.9")
    assert right.status_code == 200
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").status_code == 405


@pytest.mark.django_db
def test_open_holds_and_channels_are_read_at_scrape_time(client, settings):
    settings.HARNMODEL_METRICS_TOKEN = ""
    make_model("gpt-4o")
    channel = make_channel("sim-metrics", models={"gpt-4o": ""})
    account, _ = make_customer("holds@example.com", balance="10")
    price = price_snapshot(price_current(model_id="gpt-4o"))
    for request_id in ("req-m1", "req-m2"):
        billing_services.hold_reserve(
            account_id=account.pk,
            request_id=request_id,
            input_tokens=10,
            max_output_tokens=10,
            price=price,
            ttl_seconds=60,
        )
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "harnmodel_open_holds 2.0" in text
    assert "harnmodel_open_holds_overdue 0.0" in text
    assert f'harnmodel_channel_info{{channel="{channel.pk}",name="sim-metrics",provider="simulator"}} 1.0' in text
    assert f'harnmodel_channel_enabled{{channel="{channel.pk}"}} 1.0' in text


# -- the suggested relay wiring, end to end (in-process) --------------------------------------------------------------
def test_metrics_after_requests_through_the_gateway(funded, asgi, client, settings, monkeypatch, capsys):
    """A dead channel in front of the simulator: every request fails over, its breaker opens, and /metrics says so."""
    from tests.e2e.conftest import free_port

    settings.HARNMODEL_METRICS_TOKEN = ""
    settings.HARNMODEL_BREAKER_FAILURES = 2  # the two requests below trip the dead channel's breaker
    settings.HARNMODEL_BREAKER_COOLDOWN = 300  # and it stays open while we scrape
    settings.HARNMODEL_REDIS_PREFIX = f"hmtest:{uuid.uuid4().hex[:12]}"  # no breaker state from earlier runs
    breaker.reset_local()
    if not relay_is_wired():
        monkeypatch.setattr(relay.RelayJob, "_settle", wired_settle(relay.RelayJob._settle))
    dead = make_channel(
        "dead-first",
        provider="openai_responses",
        base_url=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens: refused at once
        secret="dead-secret",
        priority=10,
    )
    sim, dead_label = str(funded.channel_id), str(dead.pk)
    before = {
        "ok": sample("harnmodel_requests_total", model="gpt-4o", status="200", channel=sim),
        "failovers": sample("harnmodel_failovers_total", channel=dead_label),
        "refused": sample("harnmodel_upstream_errors_total", channel=dead_label, code="connect_error"),
    }
    body = {"model": "gpt-4o", "input": "Say hello to the metrics."}
    assert asgi.post("/v1/responses", json=body, headers=funded.auth).status_code == 200
    assert asgi.post("/v1/responses", json={**body, "stream": True}, headers=funded.auth).status_code == 200
    assert asgi.post("/v1/responses", json={"model": "gpt-4o"}, headers=funded.auth).status_code == 400
    asgi.settled()  # the breaker's records run in the background too

    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert sample("harnmodel_requests_total", model="gpt-4o", status="200", channel=sim) == before["ok"] + 2
    assert sample("harnmodel_failovers_total", channel=dead_label) == before["failovers"] + 2
    assert sample("harnmodel_upstream_errors_total", channel=dead_label, code="connect_error") == before["refused"] + 2
    assert "harnmodel_open_holds 0.0" in text
    assert f'harnmodel_breaker_state{{channel="{dead_label}",model="gpt-4o"}} 2.0' in text  # open, by the breaker
    assert f'harnmodel_breaker_state{{channel="{sim}",model="gpt-4o"}}' not in text  # the healthy one: no series
    if os.environ.get("HARNMODEL_SHOW_METRICS"):
        with capsys.disabled():
            print("\n" + "\n".join(line for line in text.splitlines() if "harnmodel_" in line))


# -- several processes, one scrape ---------------------------------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import os, sys
    import django
    django.setup()
    from billing.services import RequestFacts
    from billing.pricing import Usage
    from gateway.observe import metrics
    facts = RequestFacts(account_id=1, model_id="gpt-mp", channel_id=5, status=200, latency_ms=200)
    metrics.observe_request(facts, usage=Usage(input_tokens=10, output_tokens=5), cost_micros=100)
    metrics.set_breaker_state(5, sys.argv[1])
    with metrics.inflight():
        print(os.getpid(), flush=True)
        sys.stdin.readline()  # a live worker in the middle of a request, until told to finish
    """
)
SCRAPE = textwrap.dedent(
    """
    import django
    django.setup()
    from gateway.observe import metrics
    print(metrics.exposition()[0].decode())
    """
)


def _scrape(env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRAPE], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _value(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_worker_processes_add_up_in_one_scrape(tmp_path):
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "harnmodel.settings",
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "none.sqlite3"),  # no tables: the DB gauges say so
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, state],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for state in ("closed", "open")
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip().isdigit()  # it recorded, and is now "in flight"
        live = _scrape(env)
    finally:
        for worker in workers:
            worker.communicate("done\n", timeout=30)

    assert _value(live, 'harnmodel_requests_total{channel="5",model="gpt-mp",status="200"}') == 2
    assert _value(live, 'harnmodel_tokens_total{direction="input",model="gpt-mp"}') == 20
    assert _value(live, 'harnmodel_spend_micros_total{model="gpt-mp"}') == 200
    assert _value(live, "harnmodel_relay_inflight") == 2
    assert _value(live, 'harnmodel_breaker_state{channel="5",model=""}') == 2  # the worst a live worker sees
    assert _value(live, "harnmodel_database_up") == 0

    # Both workers are gone: counters stay, their live gauges are dropped at the next scrape.
    after = _scrape(env)
    assert _value(after, 'harnmodel_requests_total{channel="5",model="gpt-mp",status="200"}') == 2
    assert _value(after, "harnmodel_relay_inflight") in (None, 0)
    assert _value(after, 'harnmodel_breaker_state{channel="5",model=""}') is None


CELERY_TASK = textwrap.dedent(
    """
    import django
    django.setup()
    from harnmodel.celery import app
    from billing.tasks import sweep_expired_holds
    app.conf.task_always_eager = True
    sweep_expired_holds.apply()  # no tables in this database: a failure, which is an outcome too
    """
)


def test_a_celery_task_outcome_reaches_the_web_scrape(tmp_path):
    """What scripts/run sets up: the Celery worker and the web workers share PROMETHEUS_MULTIPROC_DIR."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "harnmodel.settings",
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "none.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "-c", CELERY_TASK], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    text = _scrape(env)
    series = [line for line in text.splitlines() if line.startswith("harnmodel_celery_tasks_total{")]
    assert any('task="billing.tasks.sweep_expired_holds"' in line for line in series), series
