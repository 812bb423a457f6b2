"""schemathesis over /api/v1/schema/: every operation, positive and negative cases, against the real Django app
(WSGI, in-process). 0 × 5xx, and every answer matches the document (status, content type, body schema).

Customer operations run with a customer management key, operator ones with a superuser's operator key, so the
cases reach the views rather than stopping at 401. Bounded (HARNMODEL_API_FUZZ_EXAMPLES per operation, default
8, deadline None) so the file runs in well under a minute."""

import os
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.api.services import management_key_issue

from .conftest import make_operator

pytestmark = pytest.mark.django_db
EXAMPLES = int(os.environ.get("HARNMODEL_API_FUZZ_EXAMPLES", "8"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def _connections_stay_open():
    """As django.test.Client does: the WSGI handler must not close the test's connection after each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def runner(cases, headers: dict, counts: Counter):
    @FUZZ
    @given(case=cases)
    def run(case):
        response = case.call(headers=headers)
        counts[response.status_code // 100] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    return run


def test_schemathesis_over_the_management_api(tenant_a, tenant_b, settings, _connections_stay_open):
    from rest_framework.settings import api_settings

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"api": "100000/min", "api_write": "100000/min"}}  # fmt: skip
    assert api_settings.DEFAULT_THROTTLE_RATES["api"] == "100000/min"
    root = make_operator(None, superuser=True)
    _, ops_secret = management_key_issue(account_id=None, user=root)
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    counts: Counter = Counter()

    for operation in operations:
        secret = ops_secret if operation.path.startswith("/api/v1/ops/") else tenant_a.mk_secret
        headers = {"Authorization": f"Bearer {secret}"}
        cases = st.one_of(
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        )

        runner(cases, headers, counts)()
    print(f"\n[api fuzz] {len(operations)} operations, answers by class: {dict(sorted(counts.items()))}")
    assert counts[5] == 0 and counts[2] > 0
