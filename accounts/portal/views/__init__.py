"""Portal views, one module per page. Each translates HTTP and calls one service or selector."""

from django.conf import settings


def site_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def api_base(request) -> str:
    """The base URL customers give their SDK: the configured public one, else the host we were reached on."""
    return (settings.HARNMODEL_PUBLIC_API_BASE or site_url(request) + "/v1").rstrip("/")
