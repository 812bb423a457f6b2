import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_login_throttle():
    """The console's sign-in throttle counts in the cache: each test starts with none counted."""
    cache.clear()
    yield
    cache.clear()
