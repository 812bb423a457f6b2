"""The console's Channel truth page: trust a channel (its canary answers become the references), run the
canaries, see the scores with their evidence and the demotion, lift it. Real HTTP to the fake upstream."""

import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from gateway.upstream.truth import score
from gateway.upstream.truth.models import CanaryReference, TruthScore
from tests.factories import make_channel, make_model
from tests.upstream.truth_fake import TruthUpstream

pytestmark = pytest.mark.django_db(transaction=True)


def act(client, action: str, *rows: TruthScore):
    url = reverse("admin:truth_truthscore_changelist")
    response = client.post(url, {"action": action, "_selected_action": [r.pk for r in rows]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_trust_run_see_and_lift(admin_client, upstream: TruthUpstream):
    make_model("gpt-4o")
    for name, persona in (("trusted", "a"), ("substitute", "b")):
        make_channel(name, provider="openai_responses", base_url=upstream.serve(name, persona), secret="sk-up",
                     models={"gpt-4o": "gpt-4o"})  # fmt: skip
    score.score_all()  # every channel × model gets its row (100: no evidence yet)
    trusted = TruthScore.objects.get(channel__name="trusted")
    substitute = TruthScore.objects.get(channel__name="substitute")

    page = act(admin_client, "trust_as_reference", trusted)
    assert "3 reference answers recorded." in page
    assert set(CanaryReference.objects.values_list("canary", "source_channel__name")) == {
        ("short", "trusted"), ("tool", "trusted"), ("schema", "trusted")}  # fmt: skip
    assert AuditEntry.objects.filter(action="truth_reference_record").count() == 1

    page = act(admin_client, "run_canaries", trusted, substitute)
    assert "6 canary answers, 3 drifting." in page
    substitute.refresh_from_db()
    assert substitute.score == 25 and substitute.demoted_until is not None

    page = admin_client.get(reverse("admin:truth_truthscore_changelist")).content.decode()
    assert "substitute" in page and "● 25" in page and "short ✗ drift" in page and "× 0.1 until" in page
    detail = admin_client.get(reverse("admin:truth_truthscore_change", args=[substitute.pk]))
    assert detail.status_code == 200 and "differs from the reference" in detail.content.decode()

    act(admin_client, "lift_demotion", substitute)
    substitute.refresh_from_db()
    assert substitute.demoted_until is None and substitute.demote_factor == 1.0
    assert AuditEntry.objects.filter(action="truth_demotion_lift").count() == 1
