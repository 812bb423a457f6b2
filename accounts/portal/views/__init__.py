"""Portal views, one module per page. Each translates HTTP and calls one service or selector."""

from django.conf import settings


def site_url(request=None) -> str:
    """The portal's origin for links that leave the request (emails, payment return URLs).

    Always settings.HARNMODEL_SITE_URL, never the Host header: a forged Host must not end up in a
    password-reset or invitation mail. `request` is accepted (and ignored) for the callers' sake."""
    return settings.HARNMODEL_SITE_URL.rstrip("/")


def api_base(request) -> str:
    """The base URL customers give their SDK: the configured public one, else the host we were reached on.

    Shown only to the requester on the page (docs, playground), so the request's own host is right here."""
    return (settings.HARNMODEL_PUBLIC_API_BASE or request.build_absolute_uri("/").rstrip("/") + "/v1").rstrip("/")
