"""Websocket routes (harnmodel/asgi.py mounts them behind session auth and the allowed-hosts origin check)."""

from django.urls import path

from .console_live import SOCKET_PATH, LiveLogConsumer

websocket_urlpatterns = [path(SOCKET_PATH.lstrip("/"), LiveLogConsumer.as_asgi())]
