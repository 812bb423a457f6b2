import pytest

from tests.upstream_sync.fake import FakeUpstream


@pytest.fixture(scope="module")
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _mail(settings, upstream):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    upstream.models, upstream.balance, upstream.page_size = [], "10.00", 2
