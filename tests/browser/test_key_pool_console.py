"""The key pool in the console, in Chromium against a real server: keys pasted into a channel's write-only box
show up in its credential list by short id and last four characters only, and are switched off from the list."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_pages import console  # noqa: F401  (fixture)

PASTED = ["sk-browser-pool-key-aaaa1111", "sk-browser-pool-key-bbbb2222"]


@pytest.mark.django_db(transaction=True)
def test_paste_keys_then_switch_one_off(console, portal_server, shot):  # noqa: F811
    from gateway.models import Channel, ChannelCredential
    from tests.factories import make_channel, make_model

    make_model("gpt-4o")
    channel = make_channel("pool-up", provider="openai_responses", base_url="https://up.example.com/v1",
                           secret="sk-browser-first-key-0000")  # fmt: skip
    page = console
    page.goto(f"{portal_server.url}/admin/gateway/channel/{channel.pk}/change/")
    box = page.locator("#id_new_secret")
    expect(box).to_have_value("")
    box.fill("\n".join(PASTED) + "\n")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    inline = page.locator("#credentials-group")
    expect(inline).to_contain_text("…1111")
    expect(inline).to_contain_text("…2222")
    expect(page.locator("#id_new_secret")).to_have_value("")  # nothing comes back
    html = page.content()
    assert all(secret not in html for secret in PASTED)
    shot(page, "console-channel-key-pool")

    target = ChannelCredential.objects.get(channel=channel, secret_hint="…2222")
    page.goto(f"{portal_server.url}/admin/gateway/channelcredential/")
    page.locator(f"input[name='_selected_action'][value='{target.pk}']").check()
    page.locator("select[name='action']").select_option("disable_selected")
    page.locator("button[name='index']").first.click()  # the actions bar's Go
    expect(page.locator(".messagelist")).to_contain_text("Disabled 1 credential(s).")
    expect(page.locator("#result_list")).to_contain_text("operator: ops")
    shot(page, "console-credential-list")
    target.refresh_from_db()
    assert not target.enabled and Channel.objects.get(pk=channel.pk).secret_hint == "3 keys, 2 enabled"
    assert page.console_errors == []
