"""The Playground switches protocol (issue 15): the same prompt goes through each door — Responses, Chat
Completions, Anthropic Messages, Gemini — with that door's key header, the streamed text grows token by
token, the raw request and raw events are each door's own, the cost is polled by request id, and refusals
show in each door's error shape. Chromium against a real server and the simulator channel; no console or
CSP errors (the `page` fixture asserts that)."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_channel, make_model
from tests.portal.conftest import make_member

from .test_playground_errors import log_in

pytestmark = pytest.mark.django_db(transaction=True)

# protocol → (what the raw request must show, what the raw events must show)
DOORS = {
    "responses": (["/v1/responses", "Authorization: Bearer sk-", '"input": "Summarize the integration steps"'],
                  ["event: response.output_text.delta", "event: response.completed"]),
    "chat": (["/v1/chat/completions", "Authorization: Bearer sk-", '"role": "user"', '"include_usage": true'],
             ['"object":"chat.completion.chunk"', "data: [DONE]"]),
    "messages": (["/v1/messages", "x-api-key: sk-", "anthropic-version: 2023-06-01", '"max_tokens": 1024'],
                 ["event: content_block_delta", "event: message_stop"]),
    "gemini": (["/v1beta/models/gpt-4o:streamGenerateContent?alt=sse", "x-goog-api-key: sk-",
                '"parts": [', '"systemInstruction"'],
               ['"candidates"', '"usageMetadata"']),
}  # fmt: skip


def test_every_protocol_streams_through_its_own_door(page, portal_server, shot):
    base = portal_server.url
    make_model("gpt-4o")
    # A token every 40 ms, so the text is seen growing (as the tour does).
    make_channel("sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 50, "token_delay_ms": 40})
    member = make_member("pg-doors@example.com")
    log_in(page, base, member.user)

    page.goto(base + "/playground/")
    page.get_by_label("API key").fill(member.key)
    status, output = page.locator("#pg-status"), page.get_by_test_id("output")
    for protocol, (request_shows, events_show) in DOORS.items():
        page.get_by_label("Protocol").select_option(protocol)
        expect(page.get_by_test_id("endpoint")).to_contain_text(request_shows[0].split("?")[0])
        page.get_by_role("button", name="Send").click()
        expect(output).not_to_be_empty()
        partial = output.inner_text()
        expect(status).to_have_text(re.compile("^Done"), timeout=20_000)
        final = output.inner_text()
        assert final.startswith("Sure.") and "harnmodel simulator" in final, (protocol, final)
        assert len(partial) < len(final), f"{protocol}: the answer should have appeared piece by piece"
        for text in request_shows:
            expect(page.locator("#pg-request")).to_contain_text(text)
        assert member.key not in page.locator("#pg-request").inner_text()  # the raw request masks the key
        for text in events_show:
            expect(page.get_by_test_id("events")).to_contain_text(text)
        usage = page.get_by_test_id("usage")
        expect(usage).to_contain_text("Output tokens")
        for label in ("Input tokens", "Output tokens"):  # each door's usage shape read into the same facts
            count = usage.locator(f"dt:text-is('{label}') + dd").inner_text()
            assert int(count) > 0, (protocol, label, count)
        expect(page.locator('#pg-usage [data-testid="cost"]')).to_have_text(re.compile(r"^¥0\.\d+"), timeout=15_000)
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, f"playground-{protocol}", full_page=False)

    # Non-streamed JSON through a translated door renders too.
    page.get_by_label("Stream the answer (stream: true)").uncheck()
    page.get_by_label("Protocol").select_option("gemini")
    expect(page.get_by_test_id("endpoint")).to_contain_text("/v1beta/models/gpt-4o:generateContent")
    page.get_by_role("button", name="Send").click()
    expect(status).to_have_text(re.compile("^Done · STOP"), timeout=20_000)
    expect(output).to_contain_text("harnmodel simulator")
    expect(page.get_by_test_id("events")).to_contain_text('"usageMetadata"')


TOOL = '[{"type": "function", "name": "lookupDoc", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]'


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_through_every_protocol(page, portal_server, stream):
    """The simulator always calls an offered tool: each door's tool shape goes out and its call comes back."""
    base = portal_server.url
    make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""})
    member = make_member(f"pg-tools-{stream}@example.com")
    log_in(page, base, member.user)
    page.goto(base + "/playground/")
    page.get_by_label("API key").fill(member.key)
    page.get_by_text("Tools (JSON, optional)").click()
    page.locator("#pg-tools").fill(TOOL)
    page.get_by_label("Stream the answer (stream: true)").set_checked(stream)
    shapes = {
        "responses": '"name": "lookupDoc"',
        "chat": '"function": {',
        "messages": '"input_schema": {',
        "gemini": '"functionDeclarations": [',
    }
    for protocol, shape in shapes.items():
        page.get_by_label("Protocol").select_option(protocol)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#pg-status")).to_have_text(re.compile("^Done"), timeout=20_000)
        expect(page.locator("#pg-request")).to_contain_text(shape)
        expect(page.locator("#pg-tools-out")).to_have_text(re.compile(r"^Tool call: lookupDoc\(\{.*\}\)$"))
        expect(page.locator('#pg-usage [data-testid="cost"]')).to_have_text(re.compile(r"^¥0\.\d+"), timeout=15_000)


def test_the_protocol_can_be_chosen_by_link(page, portal_server):
    base = portal_server.url
    make_model("gpt-4o")
    member = make_member("pg-link@example.com")
    log_in(page, base, member.user)
    page.goto(base + "/docs/messages/")
    page.get_by_role("link", name="Open the Playground").click()
    expect(page.get_by_label("Protocol")).to_have_value("messages")
    expect(page.locator("#pg-max-label")).to_have_text("max_tokens")
    expect(page.get_by_test_id("endpoint")).to_have_text(base + "/v1/messages")


# protocol → the error code each door's shape carries for a bad key
BAD_KEY = {
    "responses": "invalid_auth_header",
    "chat": "invalid_auth_header",
    "messages": "authentication_error",
    "gemini": "UNAUTHENTICATED",
}


def test_refusals_show_in_each_doors_shape(page, portal_server):
    base = portal_server.url
    make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""})
    broke = make_member("pg-broke@example.com", balance="0")
    log_in(page, base, broke.user)
    polled: list[str] = []
    page.on("request", lambda request: polled.append(request.url) if "/usage/requests/" in request.url else None)
    page.goto(base + "/playground/")
    status = page.locator("#pg-status")
    for protocol, code in BAD_KEY.items():
        page.get_by_label("Protocol").select_option(protocol)
        page.get_by_label("API key").fill("sk-not-a-real-key")
        page.get_by_role("button", name="Send").click()
        expect(status).to_have_text(re.compile(rf"^HTTP 401 {code}: \S"))
        expect(status.get_by_test_id("billing-link")).to_have_count(0)

        page.get_by_label("API key").fill(broke.key)
        page.get_by_role("button", name="Send").click()
        expect(status).to_contain_text("HTTP 402 ")
        expect(status).to_contain_text("Your balance is too low")
        expect(status.get_by_test_id("billing-link")).to_have_attribute("href", "/billing/")
    page.wait_for_timeout(600)
    assert polled == []  # refused before any upstream call: no cost to poll
