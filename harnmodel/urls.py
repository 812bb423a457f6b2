from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as static_serve
from django.urls import include, path, re_path

urlpatterns = [
    path("v1/", include("gateway.urls")),
    path("admin/", admin.site.urls),
]

if settings.HARNMODEL_SERVE_STATIC:
    urlpatterns += [
        re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
    ]
