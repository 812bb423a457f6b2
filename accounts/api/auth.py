"""Who calls the management API: a management key (`Authorization: Bearer mk-…`) or a session.

A customer key acts for its account with owner rights; an operator key (no account) acts as the staff
user who made it, so the console roles and `is_active`/`is_staff` are re-checked on every request."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from . import services


class KeyPrincipal:
    """request.user for a customer management key: authenticated, no Django permissions at all."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True

    def __init__(self, key) -> None:
        self.key = key
        self.pk = self.id = f"mk{key.pk}"  # throttle identity: one bucket per key

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def get_username(self) -> str:
        return f"management-key:{self.key.prefix}"

    def __str__(self) -> str:
        return self.get_username()


class ManagementKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise exceptions.AuthenticationFailed("Send `Authorization: Bearer mk-…`.", code="invalid_auth_header")
        key = services.management_key_find(secret=secret.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked management key.", code="invalid_api_key")
        if key.account_id is not None:
            if not key.account.is_active:
                raise exceptions.AuthenticationFailed("This account is disabled.", code="account_disabled")
            principal = KeyPrincipal(key)
        else:
            user = key.user
            if user is None or not user.is_active or not user.is_staff:
                raise exceptions.AuthenticationFailed("This operator key's user may no longer sign in.",
                                                      code="invalid_api_key")  # fmt: skip
            principal = user
        services.management_key_touch(key=key)
        return principal, key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'  # makes DRF answer 401 (not 403) without credentials


class ManagementKeyScheme(OpenApiAuthenticationExtension):
    target_class = ManagementKeyAuthentication
    name = "managementKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A management key, `mk-…`."}
