"""Operators' TOTP devices in the console: who has one and when it was last used, never the key.

django-otp registers an admin that can show the key and its QR code (or type one in on "add"); it is replaced
by this read-only list. Devices are created only by `manage.py totp_enroll`, whose output is the one place the
secret appears; deleting a device here revokes it (the operator then needs a new enrolment).
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp import admin as otp_totp_admin  # noqa: F401  (registers first, so we can replace it)
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record

FIELDS = [
    "user",
    "name",
    "confirmed",
    "created_at",
    "last_used_at",
    "throttling_failure_count",
    "throttling_failure_timestamp",
]

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class OperatorDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    list_filter = ["confirmed"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    fields = FIELDS
    readonly_fields = FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[TOTPDevice]:
        # defer: the key is not even loaded for these pages.
        return super().get_queryset(request).defer("key")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enrol with `manage.py totp_enroll`: an add form would put a key on screen

    def has_change_permission(self, request: HttpRequest, obj: TOTPDevice | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: TOTPDevice) -> None:
        self._audit_revoke(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TOTPDevice]) -> None:
        self._audit_revoke(request, list(queryset.select_related("user")))
        super().delete_queryset(request, queryset)

    @staticmethod
    def _audit_revoke(request: HttpRequest, devices: list[TOTPDevice]) -> None:
        for device in devices:
            username = device.user.get_username()
            audit_record(
                actor=request.user,
                action="totp_revoke",
                obj=device,
                object_repr=f"{username}: TOTP device",
                before={"user": username, "device": device.pk, "confirmed": device.confirmed},
            )
