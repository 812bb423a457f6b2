"""Playground: the browser calls a door itself (Responses, Chat Completions, Anthropic Messages or Gemini),
with a key the customer pastes."""

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import docs_doors, selectors
from ..access import member_required
from . import api_base


@member_required
def playground(request):
    base = api_base(request)
    config = {
        # Same origin unless HARNMODEL_PUBLIC_API_BASE names another host (then /v1 needs CORS).
        "api_base": base,
        "origin": docs_doors.origin_of(base),  # the Messages and Gemini doors' paths start at the origin
        "usage_url": reverse("portal:usage_record", args=["REQUEST_ID"]),
        "billing_url": reverse("portal:billing"),
        "t": {
            "sending": _("Sending…"),
            "streaming": _("Streaming…"),
            "done": _("Done"),
            "stopped": _("Stopped."),
            "settling": _("Settling the cost…"),
            "no_key": _("Enter an API key first."),
            "bad_tools": _("Tools must be a JSON array."),
            "no_usage": _("No usage reported."),
            "input": _("Input tokens"),
            "cached": _("Cached input tokens"),
            "output": _("Output tokens"),
            "reasoning": _("Reasoning tokens"),
            "cost": _("Cost (charged)"),
            "request_id": _("Request ID"),
            "estimated": _("estimated"),
            "tool_call": _("Tool call"),
            "network": _("Network error"),
            "top_up": _("Top up on the Billing page"),
        },
    }
    models = [row["model"].public_id for row in selectors.models_with_prices()]
    return render(
        request, "portal/playground.html", {"models": [{"id": m} for m in models], "base": base, "pg_config": config}
    )
