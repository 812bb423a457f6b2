"""Customer scope: projects (teams inside the account) with their budgets and spend.

Any member reads them; owners create, rename, set budgets and delete (an empty, non-default project).
Keys name their project on creation (POST /api/v1/keys/ with `project`) or move with PATCH."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from ... import projects
from ...models import Project
from ..errors import ApiProblem
from ..serializers import teams as s
from .base import CustomerViewSet

REFUSALS = {
    "name_taken": (409, "This account already has a project of that name.", "name"),
    "project_limit": (409, f"At most {projects.MAX_PROJECTS} projects per account.", None),
    "default_project": (409, "The default project cannot be deleted.", None),
    "has_keys": (409, "Move or revoke this project's keys first: their spend must stay in a project.", None),
}


def _refused(exc: projects.ProjectError) -> ApiProblem:
    status_code, message, param = REFUSALS[str(exc)]
    return ApiProblem(status_code, str(exc), message, param=param)


class ProjectViewSet(CustomerViewSet):
    serializer_class = s.ProjectSerializer
    owner_actions = ("create", "partial_update", "destroy")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return projects.projects_of_account(account_id=self.account_id)

    def _data(self, rows, *, many: bool):
        rows = list(rows) if many else [rows]
        spend = projects.project_spend(account_id=self.account_id, project_ids=[p.pk for p in rows])
        data = s.ProjectSerializer(rows, many=True, context={"spend": spend}).data
        return data if many else data[0]

    def _get(self, pk) -> Project:
        try:
            return self.get_queryset().get(pk=int(pk))
        except Project.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such project.") from exc

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self._data(page, many=True))

    def retrieve(self, request, pk=None):
        return Response(self._data(self._get(pk), many=False))

    @extend_schema(request=s.ProjectWriteSerializer, responses={201: s.ProjectSerializer})
    def create(self, request):
        body = s.ProjectWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        try:
            project = projects.project_create(account_id=self.account_id, name=data.pop("name"), budgets=data)
        except projects.ProjectError as exc:
            raise _refused(exc) from exc
        return Response(self._data(self._get(project.pk), many=False), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ProjectWriteSerializer, responses=s.ProjectSerializer)
    def partial_update(self, request, pk=None):
        body = s.ProjectWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            projects.project_update(account_id=self.account_id, project_id=self._get(pk).pk,
                                    changes=dict(body.validated_data))  # fmt: skip
        except projects.ProjectError as exc:
            raise _refused(exc) from exc
        return Response(self._data(self._get(pk), many=False))

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, pk=None):
        try:
            projects.project_delete(account_id=self.account_id, project_id=self._get(pk).pk)
        except projects.ProjectError as exc:
            raise _refused(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
