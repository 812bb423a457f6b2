"""The client doors' doc pages (issue 15): one per door, in English and Simplified Chinese, reachable from
the docs navigation, with the customer's real base URL in every sample, the fields each door refuses, and
the errors in that door's own type names. That the samples work is proven on the real server:
tests/doors/test_docs_samples.py."""

import pytest
from django.urls import reverse

from accounts.portal import docs_samples

pytestmark = pytest.mark.django_db

# door → (base URL the SDKs take, a refused field, its 402 type in the door's shape, a zh-Hans phrase)
DOORS = {
    "chat": ("http://testserver/v1", "n &gt; 1", "insufficient_quota", "每个请求只生成一个结果。"),
    "messages": ("http://testserver", "tools[].type: web_search_", "billing_error", "不提供服务端工具"),
    "gemini": ("http://testserver", "cachedContent", "RESOURCE_EXHAUSTED", "不支持已存储的上下文缓存"),
}
SDKS = {"chat": ("from openai import OpenAI", 'import OpenAI from "openai"'),
        "messages": ("import anthropic", 'import Anthropic from "@anthropic-ai/sdk"'),
        "gemini": ("from google import genai", 'import { GoogleGenAI } from "@google/genai"')}  # fmt: skip


def page(client, door: str, language: str) -> str:
    response = client.get(reverse("portal:docs_door", args=[door]), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("door", DOORS)
def test_each_door_page_in_english(client, door):
    base, refused, billing_type, _zh = DOORS[door]
    body = page(client, door, "en")
    assert '<html lang="en">' in body
    assert f'<code data-testid="base-url">{base}</code>' in body
    for block in ("curl-json", "curl-stream", "py-json", "py-stream", "node-json", "node-stream"):
        assert f'<pre id="{block}"' in body
    assert body.count(base) >= 6  # every sample points at the real base URL
    python, node = SDKS[door]
    assert python in body and node.replace('"', "&quot;") in body
    assert "Fields we refuse" in body and refused in body
    assert f"<td>402</td><td><code>{billing_type}</code></td>" in body
    assert 'href="/playground/?protocol=' + door + '"' in body
    for other in ("/docs/", "/docs/chat/", "/docs/messages/", "/docs/gemini/", "/docs/agents/"):
        assert f'href="{other}"' in body


@pytest.mark.parametrize("door", DOORS)
def test_each_door_page_in_chinese(client, door):
    base, refused, _type, zh = DOORS[door]
    body = page(client, door, "zh-Hans")
    assert '<html lang="zh-hans">' in body
    assert f'<code data-testid="base-url">{base}</code>' in body
    assert "拒绝的字段" in body and zh in body and refused in body
    assert "编程智能体" in body  # the docs navigation
    assert docs_samples.PROMPT in body


def test_messages_page_documents_count_tokens_and_both_key_headers(client):
    body = page(client, "messages", "en")
    assert '<pre id="curl-count"' in body and "http://testserver/v1/messages/count_tokens" in body
    assert "x-api-key: sk-" in body and "Authorization: Bearer sk-" in body and "never charged" in body


def test_gemini_page_shows_both_stream_forms_and_key_forms(client):
    body = page(client, "gemini", "en")
    assert "http://testserver/v1beta/models/gpt-4o:streamGenerateContent?alt=sse" in body
    assert "x-goog-api-key: sk-" in body and "?key=sk-" in body and "JSON array" in body


def test_the_responses_page_links_to_every_door(client):
    body = client.get(reverse("portal:docs")).content.decode()
    for door in DOORS:
        assert f'href="/docs/{door}/"' in body


def test_unknown_door_is_404(client):
    assert client.get("/docs/nope/").status_code == 404


@pytest.mark.parametrize("language, heading", [("en", "Coding agents"), ("zh-Hans", "编程智能体")])
def test_coding_agents_page(client, language, heading):
    body = client.get(reverse("portal:docs_agents"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f"<h1>{heading}</h1>" in body
    assert "export ANTHROPIC_BASE_URL=&quot;http://testserver&quot;" in body and "ANTHROPIC_AUTH_TOKEN" in body
    assert "export GOOGLE_GEMINI_BASE_URL=&quot;http://testserver&quot;" in body and "GEMINI_API_KEY" in body
    assert "base_url = &quot;http://testserver/v1&quot;" in body and "wire_api = &quot;responses&quot;" in body


def test_public_api_base_setting_is_what_the_pages_show(client, settings):
    settings.HARNMODEL_PUBLIC_API_BASE = "https://api.example.com/v1"
    assert '<code data-testid="base-url">https://api.example.com</code>' in page(client, "gemini", "en")
    assert '<code data-testid="base-url">https://api.example.com/v1</code>' in page(client, "chat", "en")
