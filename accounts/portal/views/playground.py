"""Playground: the browser calls /v1/responses itself, with a key the customer pastes."""

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import selectors
from ..access import member_required
from . import api_base


@member_required
def playground(request):
    base = api_base(request)
    config = {
        # Same origin unless HARNMODEL_PUBLIC_API_BASE names another host (then /v1 needs CORS).
        "endpoint": base + "/responses",
        "usage_url": reverse("portal:usage_record", args=["REQUEST_ID"]),
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
        },
    }
    models = [row["model"].public_id for row in selectors.models_with_prices()]
    return render(
        request, "portal/playground.html", {"models": [{"id": m} for m in models], "base": base, "pg_config": config}
    )
