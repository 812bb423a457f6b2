"""ASGI entry point (uvicorn): the gateway's lean /v1 front, Django behind it for the rest."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")

django_application = get_asgi_application()

from gateway.asgi import GatewayApp  # noqa: E402  (needs Django set up first)

application = GatewayApp(fallback=django_application)
