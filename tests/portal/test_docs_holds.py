"""The doc page states the billing bounds in force (holds for uncountable input, the overdraft limit)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_docs_state_the_hold_bounds_from_the_settings(client, settings):
    settings.HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS = 64_000
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 250_000
    body = client.get(reverse("portal:docs")).content.decode()
    assert "64,000 tokens when the request continues stored context" in body
    assert "at most ¥0.25 below zero" in body
    assert "incomplete_details.reason" in body
