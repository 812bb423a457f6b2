"""The console's live request log: a page in the admin and the websocket that feeds it.

The gateway publishes each settled request to a channel-layer group (gateway.observe.livelog); every viewer's
consumer joins it and forwards what its own filters let through. Filters change over the open socket: the
consumer answers with the matching requests it already holds, so the page redraws without reconnecting.
"""

import asyncio
import json
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from billing.money import format_exact
from gateway.observe import livelog

from . import otp
from .live_filters import FilterError, LiveFilters, parse_filters

SOCKET_PATH = "/ws/admin/live-log/"
VIEW_PERMISSION = "billing.view_usagerecord"  # who may read usage records may watch them arrive
NOT_SIGNED_IN = 4401
FORBIDDEN = 4403
BACKLOG = 200  # requests a viewer's connection keeps, to redraw the page when its filters change
RECHECK_SECONDS = livelog.WATCH_TTL_SECONDS / 3


def can_watch(user: Any) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and (user.is_superuser or user.has_perm(VIEW_PERMISSION))
    )


def _second_factor_ok(user: Any, session: Any) -> bool:
    """With TOTP sign-in on, the socket needs what the admin pages need: a session verified by the
    operator's own confirmed device (django-otp's middleware rule, which does not run for websockets)."""
    if not otp.totp_required():
        return True
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and bool(device.confirmed)


def _may_connect(user: Any, session: Any) -> bool:
    return can_watch(user) and _second_factor_ok(user, session)


def _still_allowed(pk: int) -> bool:
    # A fresh row: demoting or deactivating an operator must end their live view too.
    user = get_user_model().objects.filter(pk=pk).first()
    return user is not None and can_watch(user)


def live_log_view(request: HttpRequest) -> HttpResponse:
    """The page; the rows arrive over the websocket."""
    if not can_watch(request.user):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Live request log",
        "socket_path": SOCKET_PATH,
        "backlog": BACKLOG,
    }
    return TemplateResponse(request, "admin/live_log.html", context)


class LiveLogConsumer(AsyncJsonWebsocketConsumer):
    """One viewer. Accepts before closing a refused one, so the browser sees why (4401 / 4403)."""

    joined = False
    keeper: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=NOT_SIGNED_IN)
            return
        if not await database_sync_to_async(_may_connect)(user, self.scope.get("session")):
            await self.accept()
            await self.close(code=FORBIDDEN)
            return
        self.user_pk = user.pk
        self.filters = LiveFilters()
        self.backlog: deque[dict[str, Any]] = deque(maxlen=BACKLOG)
        await self.channel_layer.group_add(livelog.GROUP, self.channel_name)
        self.joined = True
        await livelog.announce_watcher()
        self.keeper = asyncio.create_task(self._keep_watching())
        await self.accept()
        await self.send_json({"type": "filters", "filters": self.filters.as_dict(), "events": []})

    async def disconnect(self, code: int) -> None:
        if self.keeper is not None:
            self.keeper.cancel()
        if self.joined:
            await self.channel_layer.group_discard(livelog.GROUP, self.channel_name)
            self.joined = False

    async def _keep_watching(self) -> None:
        """Re-announce this viewer and renew its group membership before either expires (the layer's short
        group_expiry clears the channels of crashed workers); close when the operator lost the right."""
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            if not await database_sync_to_async(_still_allowed)(self.user_pk):
                await self.close(code=FORBIDDEN)
                return
            await self.channel_layer.group_add(livelog.GROUP, self.channel_name)
            await livelog.announce_watcher()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self._error("the message is not JSON", param="")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not self.joined:
            return
        if not isinstance(content, dict) or content.get("type") != "filters":
            await self._error('send {"type": "filters", ...}', param="type")
            return
        try:
            self.filters = parse_filters(content)
        except FilterError as exc:
            await self._error(str(exc), param=exc.param)
            return
        matching = [event for event in self.backlog if self.filters.matches(event)]
        await self.send_json({"type": "filters", "filters": self.filters.as_dict(), "events": matching})

    async def livelog_batch(self, message: dict[str, Any]) -> None:
        """A batch from the publisher (channel-layer message type livelog.batch)."""
        shown = []
        for event in json.loads(message["events_json"]):
            event = {**event, "cost": format_exact(int(event.get("cost_micros") or 0))}
            self.backlog.append(event)
            if self.filters.matches(event):
                shown.append(event)
        if shown:
            await self.send_json({"type": "requests", "events": shown})

    async def _error(self, message: str, *, param: str) -> None:
        await self.send_json({"type": "error", "message": message, "param": param})
