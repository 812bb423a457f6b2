"""Customer scope: API keys (`sk-…`) through the portal's services: create (secret once), update, revoke."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from gateway import selectors as gateway_selectors
from gateway.models import ApiKey

from ...portal import services as portal_services
from ..errors import ApiProblem
from ..serializers import customer as s
from .base import CustomerViewSet

REFUSALS = {
    "unknown_model": (400, "Pick models from GET /api/v1/models/.", "allowed_models"),
    "key_revoked": (409, "A revoked key cannot be changed.", None),
    "unknown_project": (400, "Pick a project from GET /api/v1/projects/.", "project"),
}


def _refused(exc: portal_services.PortalError) -> ApiProblem:
    status_code, message, param = REFUSALS.get(str(exc), (400, str(exc), None))
    return ApiProblem(status_code, str(exc), message, param=param)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerViewSet):
    serializer_class = s.ApiKeySerializer
    owner_actions = ("revoke",)  # as in the portal: any member creates keys, owners revoke them

    def get_queryset(self):
        return gateway_selectors.keys_of_account(account_id=self.account_id)

    @extend_schema(request=s.ApiKeyWriteSerializer, responses={201: s.ApiKeyCreatedSerializer})
    def create(self, request):
        body = s.ApiKeyWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            issued = portal_services.key_issue(
                account_id=self.account_id, name=data.get("name", ""), allowed_models=data.get("allowed_models", []),
                expires_at=data.get("expires_at"), limits={f: data.get(f) for f in s.LIMIT_FIELDS},
                project_id=data.get("project_id"), created_by_id=getattr(request.scope.user, "pk", None),
            )  # fmt: skip
        except portal_services.PortalError as exc:
            raise _refused(exc) from exc
        payload = {**s.ApiKeySerializer(issued.key).data, "secret": issued.secret}
        return Response(payload, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=s.ApiKeyWriteSerializer, responses=s.ApiKeySerializer)
    def partial_update(self, request, pk=None):
        body = s.ApiKeyWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            key = portal_services.key_update(account_id=self.account_id, key_id=int(pk), changes=body.validated_data)
        except ApiKey.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such key.") from exc
        except portal_services.PortalError as exc:
            raise _refused(exc) from exc
        return Response(s.ApiKeySerializer(key).data)

    @extend_schema(request=None, responses=s.ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        try:
            key = portal_services.key_revoke(account_id=self.account_id, key_id=int(pk))
        except ApiKey.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such key.") from exc
        return Response(s.ApiKeySerializer(key).data)
