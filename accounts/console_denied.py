"""The 403 page: inside the operator console, a console page that says what happened and where to go;
everywhere else Django's own."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import defaults


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    user = getattr(request, "user", None)
    if request.path.startswith(reverse("admin:index")) and user is not None and user.is_active and user.is_staff:
        context = {
            **admin.site.each_context(request),
            "title": "Not allowed for your role",
            "roles": sorted(user.groups.values_list("name", flat=True)),
        }
        return render(request, "admin/403.html", context, status=403)
    return defaults.permission_denied(request, exception)
