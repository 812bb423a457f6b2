"""Bases of the API's views: the customer scope and the operator scope."""

from rest_framework import viewsets

from ..permissions import CustomerScope, OperatorPermission


class CustomerViewSet(viewsets.GenericViewSet):
    """Every query of a subclass starts from `self.request.scope.account_id` (permissions.CustomerScope)."""

    permission_classes = [CustomerScope]
    owner_actions: tuple[str, ...] = ()
    lookup_value_regex = r"[0-9]{1,18}"  # ids are bigints: anything else is a 404, never a 500

    @property
    def account_id(self) -> int:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view: no request scope
            return 0
        return self.request.scope.account_id


class OperatorViewSet(viewsets.GenericViewSet):
    permission_classes = [OperatorPermission]
    lookup_value_regex = r"[0-9]{1,18}"
    operator_perms: dict[str, list[str]] = {}
