from dataclasses import dataclass

import pytest

from tests.factories import make_channel, make_customer, make_model


@dataclass
class Persona:
    account: object
    key: str


@pytest.fixture
def catalog(db):
    """gpt-4o (¥2.5 / ¥1.25 / ¥10 per 1M tokens) served by one simulator channel."""
    model = make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 0})
    return model


@pytest.fixture
def alice(db):
    """Funded customer with a working key."""
    account, key = make_customer("alice@example.com", balance="100")
    return Persona(account, key)


@pytest.fixture
def bob(db):
    """Customer with an empty wallet."""
    account, key = make_customer("bob@example.com", balance="0")
    return Persona(account, key)


@pytest.fixture
def carol(db):
    """Customer whose only key is revoked."""
    account, key = make_customer("carol@example.com", balance="100", revoked=True)
    return Persona(account, key)


@pytest.fixture(autouse=True, scope="session")
def _relay_db_threads_close_connections():
    """Relay DB threads must not keep connections open: the test database is dropped at the end."""
    from django.conf import settings

    settings.HARNMODEL_DB_PERSISTENT = False
    yield


@pytest.fixture(autouse=True, scope="session")
def _own_holds_unless_a_test_asks_for_leases():
    """Tests assert "nothing held" once their requests settle; a wallet lease (billing/holds/lease.py, on by default
    in production) stays held until it idles out. So requests hold their own unless a test turns leases on: the
    lease tests, the fault matrix (every ending with and without), the round-trip counts."""
    from django.conf import settings

    settings.HARNMODEL_WALLET_LEASE_MICROS = 0
    yield


@pytest.fixture(autouse=True, scope="session")
def _flush_survives_late_server_writes():
    from tests import flush_retry

    flush_retry.install()
    yield


@pytest.fixture(autouse=True)
def _fresh_caches():
    from gateway.relay.catalog import clear_caches

    clear_caches()
    yield
    clear_caches()


async def relay_settled() -> None:
    """Wait for the relay's background tasks (settlements) of this event loop to finish."""
    import asyncio

    from gateway.relay import job as relay

    pending = [task for task in list(relay._background) if task.get_loop() is asyncio.get_running_loop()]
    if pending:
        await asyncio.wait(pending, timeout=30)
