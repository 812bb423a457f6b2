"""The customer doc page states the field policy (gateway/relay/field_policy.py) and the URL rule, in English and Chinese."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_docs_state_the_field_policy(client, settings):
    settings.HARNMODEL_DEFAULT_MAX_TOOL_CALLS = 5
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="field-policy"' in body
    assert "Any other field is a 400 <code>unsupported_parameter</code>" in body
    assert "<code>background: true</code>" in body and "<code>store: true</code>" in body
    assert "(default 5, at most 64)" in body
    assert "<code>url_not_allowed</code>" in body


def test_docs_state_the_field_policy_in_chinese(client):
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "字段策略" in body
    assert "其他字段一律返回 400 <code>unsupported_parameter</code>" in body
    assert "（默认 8 次，最多 64 次）" in body
    assert "图片或文件 URL 指向私有、本地或非 http(s) 地址。" in body
