"""ASGI entry point (uvicorn): the gateway's lean /v1 front, Django behind it for the rest, and the console's
websockets (the live request log) through Django Channels."""

import gc
import os
import sys

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.ws_routing import SiteOriginValidator, websocket_urlpatterns  # noqa: E402
from gateway.relay.front import GatewayApp  # noqa: E402
from gateway.upstream.truth import child as truth_child  # noqa: E402

if settings.HARNMODEL_TRUTH_PRELOAD:
    truth_child.start()  # the truth score's vocabularies, loaded in a child process (never in this worker)

gateway_application = GatewayApp(fallback=django_application)

application = ProtocolTypeRouter(
    {
        "http": gateway_application,
        # uvicorn's startup/shutdown go where they always went: GatewayApp decides what to do with them.
        "lifespan": gateway_application,
        # /v1/responses sockets are the gateway's (Responses over WebSocket); the console's go to Channels.
        "websocket": GatewayApp(fallback=SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)

# A full garbage collection walks every tracked object: ~40 ms here for the ~115k objects that Django
# and the app create at import, paid by whichever request triggers it. They live as long as the worker:
# freezing them makes such a collection ~0 ms (a C=1 A/B showed no steady-state difference; it bounds the
# rare pause, nothing else).
gc.collect()
gc.freeze()

# A CPU-bound thread (a big body parsed and counted off the loop, the truth counter) holds the GIL for up to the
# switch interval each time the event loop wants it back; at the default 5 ms a small request that needs the
# GIL a hundred times while a 15 MB body is counted waited 0.7 s. 1 ms keeps it near its own cost.
sys.setswitchinterval(0.001)
