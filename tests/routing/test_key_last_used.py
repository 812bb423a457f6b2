"""A key's "last used": stamped after a relayed request, at most once per HARNMODEL_KEY_TOUCH_SECONDS
per key and worker, off the response path. Real HTTP upstream, the gateway in-process."""

import datetime

import pytest
from django.utils import timezone

from gateway.db import run_db
from gateway.models import ApiKey
from gateway.relay import key_touch
from tests.routing.conftest import ask, make_channels, settled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_stamps():
    key_touch.reset_local()
    yield
    key_touch.reset_local()


def _last_used(account) -> datetime.datetime | None:
    return ApiKey.objects.get(account=account).last_used_at


def _set_last_used(account, when) -> None:
    ApiKey.objects.filter(account=account).update(last_used_at=when)


async def test_a_served_request_stamps_last_used_once_a_minute(faulty, customer, settings):
    await run_db(make_channels, faulty, "a")
    assert await run_db(_last_used, customer.account) is None
    before = timezone.now()
    assert (await ask(customer.key)).status == 200
    await settled()
    first = await run_db(_last_used, customer.account)
    assert first is not None and first >= before

    # Within the window this worker does not write again, even if the stored stamp is old.
    long_ago = timezone.now() - datetime.timedelta(days=3)
    await run_db(_set_last_used, customer.account, long_ago)
    assert (await ask(customer.key, stream=True)).status == 200
    await settled()
    assert await run_db(_last_used, customer.account) == long_ago

    settings.HARNMODEL_KEY_TOUCH_SECONDS = 0  # window over: the next request stamps again
    assert (await ask(customer.key)).status == 200
    await settled()
    assert await run_db(_last_used, customer.account) > long_ago


async def test_a_failing_stamp_never_reaches_the_request(faulty, customer, monkeypatch):
    await run_db(make_channels, faulty, "a")

    def broken(**_):
        raise RuntimeError("database gone")

    monkeypatch.setattr(key_touch, "api_key_touch", broken)
    reply = await ask(customer.key)
    await settled()
    assert reply.status == 200 and reply.text == "你说：路由测试"
