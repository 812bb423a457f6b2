"""Provision a benchmark customer, key and channels pointing at the shared nginx mock.

Run with the project's Django settings (DATABASE_URL as the gateway uses). Prints the key.
"""

import os
import sys

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")
django.setup()

from django.db import transaction  # noqa: E402

from accounts.selectors import account_by_email  # noqa: E402
from accounts.services import account_create  # noqa: E402
from billing.money import parse_amount  # noqa: E402
from billing.services import price_publish, wallet_credit  # noqa: E402
from gateway.models import CatalogModel, Channel, ChannelModel  # noqa: E402
from gateway.services import api_key_create  # noqa: E402

MOCK = os.environ.get("MOCK_URL", "http://127.0.0.1:18080")
PACED_MOCK = os.environ.get("PACED_MOCK_URL", "http://127.0.0.1:18081")  # the harness's pymock.py, for TTFT
POOL_KEYS = int(os.environ.get("BENCH_POOL_KEYS", "0"))  # credentials per channel; 0 = none (open upstreams)
# public model → (provider, base URL)
ROUTES = {
    "gpt-4o": ("openai_responses", f"{MOCK}/v1"),
    "gpt-4o-stream": ("openai_responses", f"{MOCK}/stream/v1"),
    "gpt-4o-chat": ("openai_chat", f"{MOCK}/v1"),
    "gpt-4o-chat-stream": ("openai_chat", f"{MOCK}/stream/v1"),
    "gpt-4o-slow": ("openai_responses", f"{PACED_MOCK}/v1"),
    "sim": ("simulator", ""),
}


@transaction.atomic
def provision(
    routes: dict[str, tuple[str, str]] = ROUTES, name: str = "bench", options: dict | None = None
) -> str:
    """Models at one price, a channel per model (`options` on each), a funded customer; returns its new key."""
    for public_id, (provider, base_url) in routes.items():
        model, _ = CatalogModel.objects.get_or_create(public_id=public_id)
        price_publish(model_id=public_id, input_micros=parse_amount("2.5"), cached_input_micros=parse_amount("1.25"),
                      output_micros=parse_amount("10"))
        defaults = {"provider": provider, "base_url": base_url, "enabled": True}
        if options is not None:
            defaults["options"] = options
        channel, _ = Channel.objects.update_or_create(name=f"{name}-{public_id}", defaults=defaults)
        ChannelModel.objects.get_or_create(channel=channel, model=model, defaults={"upstream_name": "gpt-4o"})
        if POOL_KEYS:  # the hot path with a key pool to pick from (the mocks ignore keys)
            from gateway.pool.store import add_secrets

            add_secrets(channel, [f"sk-bench-{public_id}-{n:04d}" for n in range(POOL_KEYS)])
    email = f"{name}@harnmodel.local"
    account = account_by_email(email=email) or account_create(email=email)
    wallet_credit(account_id=account.pk, amount_micros=parse_amount("1000000000"), idempotency_key=f"{name}:funds",
                  note=f"{name} benchmark funds", actor="bench")
    return api_key_create(account_id=account.pk, name=name).secret


if __name__ == "__main__":
    print(provision())
