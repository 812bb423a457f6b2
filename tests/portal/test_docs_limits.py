"""The customer doc page states the string bounds in force (gateway/wire/limits.py), in English and Chinese."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_docs_state_the_string_bounds(client, settings):
    settings.HARNMODEL_MAX_MODEL_CHARS = 200
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<code>model</code> at most 200 characters" in body
    assert "10,485,760" in body and "string_above_max_length" in body


def test_docs_state_the_string_bounds_in_chinese(client):
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "<code>model</code> 最多 256 个字符" in body
