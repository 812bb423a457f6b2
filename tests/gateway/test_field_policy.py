"""The field policy (H1) and the customer-URL check (L7), as pure functions."""

from types import SimpleNamespace

import pytest

from billing.pricing import PriceSnapshot, Usage, charge_micros, estimate_micros, tool_hold_micros
from gateway.relay import field_policy, url_policy
from gateway.relay.field_policy import Needs, requirements, unmet
from gateway.wire.errors import InvalidRequest

BASE = {"model": "m", "input": "hi"}
PRICE = PriceSnapshot(None, 2_500_000, 1_250_000, 10_000_000, tool_call_micros=(("web_search", 25_000),))


def channel(**options):
    return SimpleNamespace(options=options)


@pytest.mark.parametrize(
    ("extra", "name", "param"),
    [
        ({"background": True}, "background", "background"),
        ({"conversation": "conv_1"}, "conversation", "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt", "prompt"),
        ({"store": True}, "store", "store"),
        ({"service_tier": "priority"}, "service_tier", "service_tier"),
        ({"prompt_cache_retention": "24h"}, "prompt_cache_retention", "prompt_cache_retention"),
        ({"context_management": [{"type": "compaction"}]}, "context_management", "context_management"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "item_reference", "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
            "file_id",
            "input[0].content[0].file_id",
        ),
    ],
)
def test_gated_and_unknown_fields_need_a_channel_that_allows_them(extra, name, param):
    needs = requirements({**BASE, **extra})
    assert needs.fields == ((name, param),)
    assert unmet({}, needs) == ("field", name, param)
    assert unmet({"allow_fields": [name]}, needs) is None


@pytest.mark.parametrize(
    "extra",
    [
        {"background": False},
        {"store": False},
        {"store": None},
        {"service_tier": "auto"},
        {"service_tier": "default"},
        {"prompt_cache_retention": "in_memory"},
        {"previous_response_id": "resp_x", "include": ["reasoning.encrypted_content"], "stream_options": {}},
        {"tools": [{"type": "function", "name": "f"}, {"type": "custom", "name": "g"}], "max_tool_calls": 3},
    ],
)
def test_metered_requests_need_nothing(extra):
    needs = requirements({**BASE, **extra})
    assert not needs
    assert needs.max_tool_calls == 0


def test_hosted_tools_are_gated_by_kind_and_capped():
    raw = {**BASE, "tools": [{"type": "web_search_preview_2025_03_11"}, {"type": "computer_use_preview"}]}
    needs = requirements(raw)
    assert needs.tools == (("web_search", "tools[0]"), ("computer_use", "tools[1]"))
    assert needs.max_tool_calls == field_policy.DEFAULT_MAX_TOOL_CALLS
    assert unmet({"allow_tools": ["web_search"]}, needs) == ("tool", "computer_use", "tools[1]")
    assert unmet({"allow_tools": ["web_search", "computer_use"]}, needs) is None
    assert requirements({**raw, "max_tool_calls": 3}).max_tool_calls == 3
    for bad in (-1, 65, 1.5, "3", True):
        with pytest.raises(InvalidRequest) as caught:
            requirements({**raw, "max_tool_calls": bad})
        assert caught.value.param == "max_tool_calls"


def test_admission_names_what_no_channel_allows_and_demands_a_tool_price():
    needs = requirements({**BASE, "background": True, "tools": [{"type": "web_search"}]})
    channels = [channel(allow_fields=["background"]), channel(allow_tools=["web_search"])]
    with pytest.raises(InvalidRequest) as caught:  # each allowed somewhere, never together
        field_policy.admit(needs, channels, PRICE, "m")
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "tools[0]")
    with pytest.raises(InvalidRequest) as caught:
        field_policy.admit(requirements({**BASE, "prompt": {"id": "p"}}), channels, PRICE, "m")
    assert caught.value.param == "prompt" and "'prompt'" in caught.value.message
    both = [channel(allow_fields=["background"], allow_tools=["web_search", "file_search"])]
    field_policy.admit(needs, both, PRICE, "m")
    unpriced = requirements({**BASE, "tools": [{"type": "file_search"}]})
    with pytest.raises(InvalidRequest) as caught:
        field_policy.admit(unpriced, both, PRICE, "m")
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "tools[0]")
    assert "per-call price" in caught.value.message


def test_passthrough_body_stores_nothing_unless_allowed_and_caps_hosted_calls():
    body = {**BASE, "tools": [{"type": "web_search"}]}
    field_policy.passthrough_body(body, {})
    assert body["store"] is False and body["max_tool_calls"] == field_policy.DEFAULT_MAX_TOOL_CALLS
    kept = {**BASE, "store": True}
    field_policy.passthrough_body(kept, {"allow_fields": ["store"]})
    assert kept == {**BASE, "store": True}


def test_hosted_calls_are_counted_from_output_items():
    output = [
        {"type": "message"},
        {"type": "web_search_call"},
        {"type": "web_search_call"},
        {"type": "computer_call"},
        {"type": "function_call"},
        {"type": "custom_tool_call"},
        {"type": "local_shell_call"},
        {"type": "mcp_call"},
        "junk",
    ]
    assert field_policy.count_tool_calls(output) == (("computer_use", 1), ("mcp", 1), ("web_search", 2))
    assert field_policy.count_tool_calls(None) == ()


def test_tool_calls_are_priced_per_call_on_top_of_tokens():
    tokens = Usage(input_tokens=1000, output_tokens=500)
    with_calls = Usage(input_tokens=1000, output_tokens=500, tool_calls=(("web_search", 3), ("mcp", 2)))
    assert charge_micros(with_calls, PRICE) == charge_micros(tokens, PRICE) + 3 * 25_000  # mcp: unpriced, 0
    hold = tool_hold_micros(("web_search",), 8, PRICE)
    assert hold == 200_000
    assert estimate_micros(1000, 500, PRICE, hold) == charge_micros(tokens, PRICE) + 200_000
    with pytest.raises(ValueError):
        Usage(tool_calls=(("web_search", -1),))


def test_channel_options_are_validated():
    assert field_policy.validate_options({"allow_fields": ["background"], "allow_tools": ["web_search"]}) == []
    assert field_policy.validate_options({"allow_url_hosts": ["10.0.0.0/8", "*.corp.example", "files"]}) == []
    assert field_policy.validate_options({"allow_fields": "background"})
    assert field_policy.validate_options({"allow_fields": ["temperature"]})  # always forwarded
    assert field_policy.validate_options({"allow_tools": ["function"]})  # client-side
    assert field_policy.validate_options({"allow_url_hosts": ["http://x/"]})


# -- URLs (L7) -----------------------------------------------------------------------------------------

PRIVATE = [
    "http://127.0.0.1/a.png",
    "http://localhost:8080/a.png",
    "http://LOCALHOST./a.png",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0x7f000001/",  # hex
    "http://0177.0.0.1/",  # octal
    "http://0x7f.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",  # the EC2 IPv6 metadata address (ULA)
    "http://[fc00::5]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254 mapped, in hex
    "http://[2002:a00:1::]/",  # 6to4 around 10.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around the metadata address
    "http://[ff02::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://printer.local/",
    "http://db.internal/",
    "http://intranet/",  # dotless: the upstream's search domains decide where it goes
]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_hosts_are_flagged(url):
    flagged = url_policy.check_url(url, "input[0].content[0].image_url")
    assert flagged is not None and flagged.param == "input[0].content[0].image_url"


@pytest.mark.parametrize(
    "url",
    ["https://example.com/cat.png", "https://8.8.8.8/x", "http://[2606:4700::1111]/", "data:image/png;base64,iVBOR"],
)
def test_public_and_data_urls_pass(url):
    assert url_policy.check_url(url, "p") is None


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/x",
        "http://user:pw@example.com/",
        "http://example.com\\@10.0.0.1/",
        "http://999999999999/",
        "http://1.2.3.4.5/",
        "http:///nohost",
        "http://exa mple.com/",
    ],
)
def test_unfetchable_urls_are_refused_outright(url):
    with pytest.raises(InvalidRequest) as caught:
        url_policy.check_url(url, "p")
    assert (caught.value.code, caught.value.param, caught.value.status) == ("url_not_allowed", "p", 400)


def test_operator_allowlist_covers_names_suffixes_and_networks():
    def allowed(url, entries):
        return url_policy.host_allowed(url_policy.check_url(url, "p"), entries)

    assert allowed("http://10.2.3.4/x", ["10.0.0.0/8"])
    assert allowed("http://[::ffff:10.2.3.4]/x", ["10.0.0.0/8"])
    assert allowed("http://0x0a020304/x", ["10.2.3.4"])
    assert allowed("http://files.corp.internal/x", ["*.corp.internal"])
    assert allowed("http://files.internal/x", ["files.internal"])
    assert not allowed("http://files.internal/x", ["*.corp.internal"])
    assert not allowed("http://169.254.169.254/", ["10.0.0.0/8"])


def test_every_customer_url_is_found():
    raw = {
        "input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": "http://10.0.0.1/a.png"}]},
            {"type": "function_call_output", "call_id": "c", "output": [{"type": "input_file", "file_url": "http://[::1]/f"}]},
        ],
        "tools": [{"type": "mcp", "server_label": "x", "server_url": "http://127.0.0.1:9000/sse"}],
    }
    params = [f.param for f in url_policy.flagged_urls(raw)]
    assert params == ["input[0].content[0].image_url", "input[1].output[0].file_url", "tools[0].server_url"]
    needs = requirements({**BASE, **raw})
    assert unmet({"allow_tools": ["mcp"]}, needs) == ("url", "10.0.0.1", "input[0].content[0].image_url")
    everything = {"allow_tools": ["mcp"], "allow_url_hosts": ["10.0.0.0/8", "::1", "127.0.0.1"]}
    assert unmet(everything, needs) is None
    assert unmet({}, Needs()) is None


@pytest.mark.django_db
def test_the_price_admin_publishes_per_call_tool_prices(admin_client):
    from django.urls import reverse
    from django.utils import timezone

    from billing.models import Price
    from billing.selectors import price_snapshot

    now = timezone.localtime()
    form = {
        "model_id": "gpt-4o",
        "input_price": "2.5",
        "cached_input_price": "1.25",
        "output_price": "10",
        "effective_from_0": now.strftime("%Y-%m-%d"),
        "effective_from_1": now.strftime("%H:%M:%S"),
    }
    bad = admin_client.post(reverse("admin:billing_price_add"), {**form, "tool_call_micros": '{"web_search": -1}'})
    assert bad.status_code == 200 and not Price.objects.exists()
    done = admin_client.post(reverse("admin:billing_price_add"), {**form, "tool_call_micros": '{"web_search": 25000}'})
    assert done.status_code == 302
    assert price_snapshot(Price.objects.get()).tool_price("web_search") == 25_000
    assert admin_client.post(reverse("admin:billing_price_add"), {**form, "model_id": "other"}).status_code == 302
    assert Price.objects.get(model_id="other").tool_call_micros == {}


def test_a_hosted_tool_forced_through_tool_choice_is_gated_too():
    needs = requirements({**BASE, "tool_choice": {"type": "web_search_preview"}})
    assert needs.tools == (("web_search", "tool_choice"),) and needs.max_tool_calls == 8
    assert not requirements({**BASE, "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": "f"}})


def test_a_channel_that_drops_a_hosted_tool_serves_the_request_without_it():
    needs = requirements({**BASE, "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]})
    assert unmet({}, needs) == ("tool", "web_search", "tools[1]")  # the default: refused by name
    assert unmet({"drop_tools": ["web_search"]}, needs) is None
    assert unmet({"drop_tools": ["*"]}, needs) is None
    assert unmet({"drop_tools": ["file_search"]}, needs) == ("tool", "web_search", "tools[1]")
    unpriced = PriceSnapshot(None, 2_500_000, 1_250_000, 10_000_000)
    field_policy.admit(needs, [channel(drop_tools=["web_search"])], unpriced, "m")  # no call to price or hold
    with pytest.raises(InvalidRequest):  # one candidate runs it: then it needs its price
        field_policy.admit(needs, [channel(drop_tools=["web_search"]), channel(allow_tools=["web_search"])],
                           unpriced, "m")
    forced = requirements({**BASE, "tools": [{"type": "web_search"}], "tool_choice": {"type": "web_search"}})
    assert unmet({"drop_tools": ["web_search"]}, forced) == ("tool", "web_search", "tool_choice")

    body = {**BASE, "tools": [{"type": "function", "name": "f"}, {"type": "web_search_preview"}]}
    field_policy.passthrough_body(body, {"drop_tools": ["web_search"]})
    assert body["tools"] == [{"type": "function", "name": "f"}] and "max_tool_calls" not in body
    runs = {**BASE, "tools": [{"type": "web_search"}]}
    field_policy.passthrough_body(runs, {"allow_tools": ["web_search"], "drop_tools": ["*"]})  # never drops what it runs
    assert runs["tools"] == [{"type": "web_search"}]


def test_drop_tools_is_validated_like_allow_tools():
    assert field_policy.validate_options({"drop_tools": ["web_search", "file_search"]}) == []
    assert field_policy.validate_options({"drop_tools": ["*"]}) == []
    assert field_policy.validate_options({"drop_tools": "web_search"})
    assert field_policy.validate_options({"drop_tools": ["namespace"]})  # client-side: nothing to drop
    assert field_policy.validate_options({"allow_tools": ["*"]})  # the wildcard is drop_tools' only
