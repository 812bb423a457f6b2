import pytest

from harnmodel.celery import app as celery_app
from tests.api.webhook_receiver import Receiver, self_signed
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
def _no_earlier_samples(db):
    """Requests of earlier tests (other folders) leave samples behind, written by the counting thread on a
    connection of its own: each test starts without them."""
    from gateway.upstream.truth import ratios
    from gateway.upstream.truth.models import TokenRatio

    ratios.forget()
    TokenRatio.objects.all().delete()
    yield
    ratios.forget()


@pytest.fixture(autouse=True)
def _truth_settings(settings):
    settings.HARNMODEL_TRUTH_MIN_SAMPLES = 10
    settings.HARNMODEL_TRUTH_SAMPLES_PER_SECOND = 0  # every request sampled: the tests count them
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def receiver(tmp_path, settings):
    """A real HTTPS webhook receiver on loopback (allowlisted), deliveries sent in-process."""
    cert, key = self_signed(tmp_path)
    server = Receiver(cert, key).start()
    settings.HARNMODEL_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.HARNMODEL_WEBHOOK_CA_BUNDLE = str(cert)
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield server
    celery_app.conf.task_always_eager = before
    server.stop()
