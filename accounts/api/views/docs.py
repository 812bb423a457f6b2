"""The generated API docs page (Swagger UI from drf-spectacular-sidecar's local copy, no CDN).

The split view loads its init script from a URL rather than inline, and our template gives the one
inline style the CSP nonce (accounts/csp.py)."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularSwaggerSplitView

from ..errors import error_body


class DocsView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"


@csrf_exempt  # it changes nothing; CSRF's HTML 403 would break the API's one error shape
def not_found(request, *args, **kwargs) -> JsonResponse:
    """No such endpoint (or an id of the wrong form): JSON in the API's error shape, not Django's HTML page."""
    return JsonResponse(error_body(404, "not_found", "No such endpoint."), status=404)
