"""The doc pages describe X-Max-Cost, quotes and session budgets, in English and in Chinese, and every door's error
table lists their 402s in the protocol's own type."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("language", "phrases"), [
    ("en", ["X-Max-Cost: 0.05", "cost_ceiling_exceeded", "/v1/quote/v1/chat/completions", "session_budget_exceeded",
            "Cost ceilings, quotes and session budgets"]),
    ("zh-Hans", ["成本上限、报价与会话预算", "失控的智能体循环就此停下", "/v1/quote/v1/messages", "X-Max-Cost: 0.05"]),
])  # fmt: skip
def test_the_responses_page_documents_ceilings_quotes_and_session_budgets(client, language, phrases):
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert 'id="ceilings"' in body
    for phrase in phrases:
        assert phrase in body, phrase


@pytest.mark.parametrize(("door", "native"), [("chat", "insufficient_quota"), ("messages", "billing_error"),
                                              ("gemini", "RESOURCE_EXHAUSTED")])
def test_each_door_page_points_at_them_and_lists_their_errors(client, door, native):
    body = client.get(reverse("portal:docs_door", args=[door]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "#ceilings" in body and "/v1/quote</code> followed by this door" in body
    for code in ("cost_ceiling_exceeded", "session_budget_exceeded"):
        assert f"<td>402</td><td><code>{native}</code></td><td><code>{code}</code></td>" in body
