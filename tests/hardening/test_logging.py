"""Structured logs: one JSON line per request on `harnmodel.request`, and no secret in any log line."""

import io
import json
import logging
import logging.config

import pytest

from billing.pricing import Usage
from billing.services import RequestFacts
from gateway.observe.logformat import JsonFormatter, RedactSecretsFilter, redact
from gateway.observe.request_log import log_rejection, log_request
from tests.hardening.support import logging_settings

KEY = "sk-" + "A1b2C3d4" * 6
UPSTREAM_KEY = "sk-ant-api03-" + "x9Y8z7" * 8
PROMPT = "my very private prompt about the merger"


@pytest.fixture
def lines():
    """A handler like production's (filter + JSON) on the root logger; yields a function returning its lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def facts(**overrides) -> RequestFacts:
    values = dict(
        account_id=42,
        model_id="gpt-4o",
        api_key_id=9,
        channel_id=3,
        upstream_model="upstream-x",
        stream=True,
        status=200,
        latency_ms=812,
        first_byte_ms=120,
        attempts=[{"channel": 2, "status": 503, "ms": 40, "error": "upstream_error"},
                  {"channel": 3, "credential": "cred_0a1b2c", "status": 200}],
    )
    return RequestFacts(**{**values, **overrides})


def test_one_json_line_per_request_with_every_field(lines):
    usage = Usage(input_tokens=100, cached_input_tokens=40, output_tokens=25, reasoning_tokens=5)
    log_request(facts(), request_id="req_abc", key_prefix=KEY[:10], usage=usage, cost_micros=1234, estimated=True)

    [line] = [line for line in lines() if line["logger"] == "harnmodel.request"]
    assert line["level"] == "INFO"
    assert line["message"].startswith("req_abc 200 gpt-4o channel=3 credential=cred_0a1b2c")
    assert {key: line[key] for key in line if key not in ("ts", "level", "logger", "message")} == {
        "request_id": "req_abc",
        "account_id": 42,
        "api_key_id": 9,
        "key_prefix": KEY[:10],
        "model": "gpt-4o",
        "upstream_model": "upstream-x",
        "channel_id": 3,
        "credential": "cred_0a1b2c",  # the key of the channel's pool that answered (never its secret)
        "status": 200,
        "error_code": None,
        "stream": True,
        "input_tokens": 100,
        "cached_input_tokens": 40,
        "output_tokens": 25,
        "reasoning_tokens": 5,
        "usage_estimated": True,
        "cost_micros": 1234,
        "latency_ms": 812,
        "first_byte_ms": 120,
        "attempts": [{"channel": 2, "status": 503, "ms": 40, "error": "upstream_error"},
                     {"channel": 3, "credential": "cred_0a1b2c", "status": 200}],
    }
    assert line["ts"].endswith("+00:00")


def test_a_5xx_is_a_warning_and_a_rejection_is_logged_too(lines):
    log_request(
        facts(status=502, error_code="upstream_error", channel_id=None, first_byte_ms=None),
        request_id="req_bad",
        key_prefix="sk-abcdefg",
        usage=None,
        cost_micros=0,
    )
    log_rejection(request_id="req_401", status=401, code="invalid_auth_header", latency_ms=1)
    bad, rejected = [line for line in lines() if line["logger"] == "harnmodel.request"]
    assert (bad["level"], bad["status"], bad["error_code"], bad["input_tokens"]) == (
        "WARNING",
        502,
        "upstream_error",
        0,
    )
    assert "error=upstream_error" in bad["message"]
    assert (rejected["status"], rejected["error_code"]) == (401, "invalid_auth_header")


def test_logging_never_raises(lines):
    log_request(object(), request_id="r", key_prefix="p", usage=None, cost_micros=0)
    assert any(line["message"] == "request log failed" and "exc" in line for line in lines())


@pytest.mark.parametrize(
    "text",
    [
        f"key {KEY} used",
        f"upstream said: invalid x-api-key {UPSTREAM_KEY}",
        "Authorization: Bearer abc.def-ghi_jkl+/=",
        "headers={'authorization': 'bearer opaque-token-1234'}",
        "GET https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=AIzaSyD-secret&alt=sse",
        "x-goog-api-key: AIzaSyD-secret",
        '{"api_key": "AIzaSyD-secret"}',
        "Cannot connect to redis://default:AIzaSyD-secret@cache.internal:6379/0: refused",
        "broker amqp://user:AIzaSyD-secret@mq.internal//",
    ],
)
def test_redact_blanks_keys_and_tokens(text):
    cleaned = redact(text)
    for secret in (KEY, UPSTREAM_KEY, "abc.def-ghi_jkl", "opaque-token-1234", "AIzaSyD-secret"):
        assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_redact_leaves_ordinary_text_alone():
    for text in (
        "sk-short",
        "max_output_tokens=5 input_tokens: 3",
        "key prefix sk-AbCdEfG",
        "the bearer of news",
        "see https://example.com/docs and mail ops@example.com",
    ):
        assert redact(text) == text


def test_the_filter_cleans_message_args_extras_and_tracebacks(lines):
    log = logging.getLogger("harnmodel.test")
    log.warning("calling with %s and %r", KEY, {"authorization": f"Bearer {KEY}"}, extra={"detail": f"k={KEY}"})
    try:
        raise RuntimeError(f"upstream refused {UPSTREAM_KEY}")
    except RuntimeError:
        log.exception("failed for %s", "someone")
    log.info("%d tokens", 12)  # args untouched when nothing needs redacting

    output = json.dumps(lines())
    assert KEY not in output and UPSTREAM_KEY not in output
    warning, failure, info = lines()
    assert warning["message"] == "calling with sk-[REDACTED] and {'authorization': 'Bearer sk-[REDACTED]'}"
    assert warning["detail"] == "k=sk-[REDACTED]"
    assert failure["message"] == "failed for someone" and "upstream refused sk-[REDACTED]" in failure["exc"]
    assert info["message"] == "12 tokens"


def test_the_settings_snippet_configures_json_and_text(capsys):
    from django.conf import settings
    from django.utils.log import configure_logging

    try:
        for log_format in ("json", "text"):
            logging.config.dictConfig(logging_settings(log_format))
            log_request(facts(), request_id="req_snip", key_prefix="sk-abcdefg", usage=None, cost_micros=0)
            logging.getLogger("uvicorn.error").info("Started server process with %s", KEY)
            err = capsys.readouterr().err
            assert KEY not in err and "sk-[REDACTED]" in err
            if log_format == "json":
                request_line, uvicorn_line = (json.loads(line) for line in err.splitlines())
                assert request_line["request_id"] == "req_snip" and uvicorn_line["logger"] == "uvicorn.error"
            else:
                assert "INFO harnmodel.request req_snip 200 gpt-4o" in err
    finally:
        with capsys.disabled():  # so the restored handlers write to the real stderr, not this test's capture
            configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def test_prompts_never_reach_the_request_log(lines):
    usage = Usage(input_tokens=10, output_tokens=2)
    log_request(facts(), request_id="req_p", key_prefix="sk-abcdefg", usage=usage, cost_micros=1)
    assert PROMPT not in json.dumps(lines())
