import pytest

from tests.routing.conftest import _isolated_state, _loop_clients_closed  # noqa: F401  (autouse fixtures)
from tests.upstream.truth_fake import TruthUpstream


@pytest.fixture(scope="session")
def _truth_server():
    server = TruthUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(_truth_server):
    _truth_server.channels.clear()
    yield _truth_server
    _truth_server.channels.clear()


@pytest.fixture(autouse=True)
def _truth_settings(settings):
    settings.HARNMODEL_TRUTH_MIN_SAMPLES = 10
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
