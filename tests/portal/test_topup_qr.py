"""The portal's top-up with a QR-code provider (Alipay against the fake gateway): only configured
providers are offered, the code is drawn inline, the page polls its own order's status only."""

import re
from collections.abc import Iterator

import pytest
from django.urls import reverse

from billing.models import TopUpOrder
from tests.upstream.fake_alipay import FakeAlipay, alipay_settings, start_fake_alipay


@pytest.fixture
def alipay(settings) -> Iterator[FakeAlipay]:
    fake = start_fake_alipay()
    for name, value in alipay_settings(fake).items():
        setattr(settings, name, value)
    yield fake
    fake.stop()


def test_only_configured_providers_are_offered(alice, alipay, settings):
    page = alice.client.get(reverse("portal:billing")).content.decode()
    assert 'value="alipay"' in page and 'value="stripe"' not in page and "Alipay" in page

    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_x", "whsec_x"
    page = alice.client.get(reverse("portal:billing")).content.decode()
    assert 'value="alipay"' in page and 'value="stripe"' in page


def test_an_unconfigured_provider_cannot_be_chosen(alice, alipay):
    response = alice.client.post(reverse("portal:topup"), {"preset": "100", "provider": "stripe"})
    assert response.status_code == 400 and not TopUpOrder.objects.exists()


def test_alipay_top_up_shows_the_qr_code_and_polls_until_credited(alice, alipay):
    response = alice.client.post(reverse("portal:topup"), {"preset": "50", "provider": "alipay"})

    order = TopUpOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("portal:topup_qr", args=[order.pk])
    page = alice.client.get(response["Location"]).content.decode()
    assert re.search(r'data-testid="qr-code"[^>]*><svg [^>]*class="segno"', page)
    assert "¥50.00" in page and reverse("portal:topup_status", args=[order.pk]) in page
    status = alice.client.get(reverse("portal:topup_status", args=[order.pk]))
    assert status.json() == {"status": "created"} and status["Cache-Control"] == "no-store"

    alipay.pay(order.pk.hex)
    alice.client.post(
        "/billing/webhooks/alipay/", data=alipay.notification(order.pk.hex),
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip

    assert alice.client.get(reverse("portal:topup_status", args=[order.pk])).json() == {"status": "credited"}
    done = alice.client.get(reverse("portal:topup_qr", args=[order.pk]))
    assert done.status_code == 302 and done["Location"].endswith("?topup=paid")


def test_someone_elses_order_is_404(alice, bob, alipay):
    bob.client.post(reverse("portal:topup"), {"preset": "50", "provider": "alipay"})
    order = TopUpOrder.objects.get()

    assert alice.client.get(reverse("portal:topup_qr", args=[order.pk])).status_code == 404
    assert alice.client.get(reverse("portal:topup_status", args=[order.pk])).status_code == 404
    assert bob.client.get(reverse("portal:topup_status", args=[order.pk])).status_code == 200


def test_members_who_are_not_owners_cannot_see_top_ups(alice, mallory, alipay):
    alice.client.post(reverse("portal:topup"), {"preset": "50", "provider": "alipay"})
    order = TopUpOrder.objects.get()
    assert mallory.client.get(reverse("portal:topup_qr", args=[order.pk])).status_code == 403
