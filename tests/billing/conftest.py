from collections.abc import Iterator

import pytest

from tests.upstream.fake_alipay import FakeAlipay, alipay_settings, start_fake_alipay


@pytest.fixture
def alipay(settings) -> Iterator[FakeAlipay]:
    """A local Alipay gateway, and settings pointing the SDK at it."""
    fake = start_fake_alipay()
    for name, value in alipay_settings(fake).items():
        setattr(settings, name, value)
    settings.HARNMODEL_CURRENCY = "CNY"
    yield fake
    fake.stop()
