"""Shared by the hardening tests and the server they start: the proposed LOGGING, and the proposed relay wiring
(applied only while gateway/relay/job.py does not call the metrics and request log itself)."""

import inspect


def logging_settings(log_format: str = "text", level: str = "INFO") -> dict:
    """The LOGGING proposed for harnmodel/settings.py, with LOG_FORMAT and LOG_LEVEL from the environment."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_secrets": {"()": "gateway.observe.logformat.RedactSecretsFilter"}},
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "gateway.observe.logformat.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["redact_secrets"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "httpx": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
            # uvicorn's own lines (errors, access log, --log-level trace) through the same handler: same format,
            # same redaction. No level, and not the parent "uvicorn" (dictConfig would reset its children's
            # levels): uvicorn's --log-level keeps deciding.
            "uvicorn.error": {"handlers": ["console"], "propagate": False},
            "uvicorn.access": {"handlers": ["console"], "propagate": False},
            "uvicorn.asgi": {"handlers": ["console"], "propagate": False},
        },
    }


def relay_is_wired() -> bool:
    """True once the gateway calls metrics.observe_request itself (then the tests add nothing)."""
    import importlib

    for name in ("gateway.relay.job", "gateway.relay.attempts", "gateway.relay.admit"):
        try:
            if "observe_request" in inspect.getsource(importlib.import_module(name)):
                return True
        except ImportError:
            continue
    return False


def wired_settle(original):
    """RelayJob._settle plus exactly the calls the issue note proposes for its end."""
    from billing import services as billing_services
    from gateway.observe import metrics, request_log
    from gateway.relay import job as relay

    async def settle(self):
        settlement = await original(self)
        o = self.outcome
        cost = 0 if settlement.replayed else settlement.cost_micros
        facts = billing_services.RequestFacts(
            account_id=self.a.key.account_id,
            model_id=self.a.route.public_id,
            api_key_id=self.a.key.id,
            channel_id=o.channel.id if o.channel else None,
            upstream_model=o.channel.upstream_model if o.channel else "",
            stream=self.stream,
            status=o.status,
            error_code=o.error_code,
            latency_ms=relay._ms(self.a.started),
            first_byte_ms=o.first_byte_ms,
            attempts=o.attempts,
        )
        metrics.observe_request(facts, usage=o.usage, cost_micros=cost, attempts=o.attempts)
        request_log.log_request(
            facts,
            request_id=self.a.request_id,
            key_prefix=self.a.key.prefix,
            usage=o.usage,
            cost_micros=cost,
            estimated=o.estimated,
        )
        return settlement

    return settle
