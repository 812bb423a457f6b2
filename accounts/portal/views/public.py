"""Pages anyone may read: the model catalog with prices, and the API docs."""

from django.http import Http404
from django.shortcuts import render

from billing.money import currency

from .. import docs_content, docs_doors, docs_receipts, docs_samples, selectors
from ..access import resolve
from . import api_base


def models(request):
    """Anyone sees the list prices; a signed-in member sees the account's own (its customer group's)."""
    portal = resolve(request) if request.user.is_authenticated else None
    account_id = portal.account.pk if portal else None
    return render(request, "portal/models.html", {
        "rows": selectors.models_with_prices(account_id=account_id), "currency": currency(), "own": portal is not None,
    })


def docs(request):
    base = api_base(request)
    receipts = docs_receipts.samples(docs_doors.origin_of(base))
    context = {"base": base, "doc": docs_content, **docs_content.samples(base), **receipts}
    return render(request, "portal/docs.html", context)


def docs_door(request, door):
    """A client door's page (Chat Completions, Anthropic Messages, Gemini)."""
    if door not in docs_doors.DOORS:
        raise Http404
    return render(request, "portal/docs_door.html", docs_doors.context(door, api_base(request)))


def docs_agents(request):
    base = api_base(request)
    origin = docs_doors.origin_of(base)
    return render(request, "portal/docs_agents.html", {"samples": docs_samples.agents(base, origin)})
