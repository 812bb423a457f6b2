"""Pages anyone may read: the model catalog with prices, and the API docs."""

from django.shortcuts import render

from billing.money import currency

from .. import docs_content, selectors
from . import api_base


def models(request):
    return render(request, "portal/models.html", {"rows": selectors.models_with_prices(), "currency": currency()})


def docs(request):
    base = api_base(request)
    return render(request, "portal/docs.html", {"base": base, "doc": docs_content, **docs_content.samples(base)})
