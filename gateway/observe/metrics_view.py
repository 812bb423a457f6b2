"""GET /metrics for Prometheus. Never public: it names channels and shows traffic and spend.

With HARNMODEL_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` (403 otherwise), from
anywhere. Without a token, only clients in HARNMODEL_METRICS_ALLOW_NETWORKS (default loopback) may scrape and
everyone else gets a 404, as if there were nothing here. Behind a reverse proxy on the same host every client
looks like loopback unless the proxy sends X-Forwarded-For and uvicorn trusts it (--forwarded-allow-ips):
set a token there, or keep /metrics off the proxy.
"""

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET

from gateway.observe.metrics import exposition

DEFAULT_ALLOW_NETWORKS = ("127.0.0.1/32", "::1/128")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse_networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def allowed_networks() -> tuple[Network, ...]:
    spec = getattr(settings, "HARNMODEL_METRICS_ALLOW_NETWORKS", DEFAULT_ALLOW_NETWORKS)
    if isinstance(spec, str):
        spec = spec.split(",")
    return _parse_networks(tuple(spec))


def _from_allowed_network(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack listener
    return any(ip in network for network in allowed_networks())


def _token_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "HARNMODEL_METRICS_TOKEN", "")
    if token:
        if not _token_matches(request.headers.get("authorization", ""), token):
            return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    elif not _from_allowed_network(request.META.get("REMOTE_ADDR")):
        raise Http404
    body, content_type = exposition()
    response = HttpResponse(body, content_type=content_type)
    response["cache-control"] = "no-store"
    return response
