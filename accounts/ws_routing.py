"""Websocket routes (harnmodel/asgi.py mounts them behind session auth and the site-origin check below)."""

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from .console_live import SOCKET_PATH, LiveLogConsumer

websocket_urlpatterns = [path(SOCKET_PATH.lstrip("/"), LiveLogConsumer.as_asgi())]


def allowed_origins() -> list[str]:
    """The site's own origin and the host names it answers to; never "*" (a browser sends the session
    cookie with a socket opened from any page, so the origin is what keeps other sites' pages out)."""
    return [settings.HARNMODEL_SITE_URL, *(host for host in settings.ALLOWED_HOSTS if host != "*")]


class SiteOriginValidator(OriginValidator):
    """Channels' OriginValidator with the list read per connection, so settings changed later apply."""

    def __init__(self, application):
        super().__init__(application, [])

    @property
    def allowed_origins(self) -> list[str]:
        return allowed_origins()

    @allowed_origins.setter
    def allowed_origins(self, value) -> None:  # the base class assigns it once; the property wins
        pass
