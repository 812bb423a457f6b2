"""The project's URLs plus the two this issue adds, until harnmodel/urls.py and gateway/urls.py carry them.

Used with `@pytest.mark.urls("tests.hardening.urls")`; harmless once they are wired (the first match wins and
both are the same views).
"""

from django.urls import path

from gateway.observe import metrics_view
from gateway.protocols.responses import openapi_view
from harnmodel.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("metrics", metrics_view.metrics, name="hardening-metrics"),
    path("v1/openapi.json", openapi_view.openapi_json, name="hardening-openapi"),
    *project_urlpatterns,
]
