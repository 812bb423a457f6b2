from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as static_serve
from django.urls import include, path, re_path
from django.views.i18n import set_language

from gateway import meta_views, unknown_url
from gateway.observe import metrics_view
from gateway.receipts import views as receipt_views

urlpatterns = [
    path("v1", unknown_url.unknown_url),  # not /v1/ + Django's slash redirect: JSON like every /v1 answer
    path("v1/", include("gateway.urls")),
    path("admin/", admin.site.urls),
    path("healthz", meta_views.healthz, name="healthz"),
    path("readyz", meta_views.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path(".well-known/harnmodel-receipts.json", receipt_views.jwks, name="receipts-jwks"),
    path("billing/", include("billing.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("accounts.portal.urls")),
]

# A console page, not a bare "403 Forbidden", when an operator's role may not do something.
handler403 = "accounts.console_denied.permission_denied"

if settings.HARNMODEL_SERVE_STATIC:
    urlpatterns += [
        re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
    ]
