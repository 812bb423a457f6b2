"""Customer scope: the account and its wallet, members, invitations and management keys."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ... import projects
from ...models import Invitation, ManagementKey, Membership
from ...portal import selectors as portal_selectors
from ...portal import services as portal_services
from ...portal.forms import AccountNameForm
from ...portal.views import site_url
from .. import services
from ..errors import ApiProblem
from ..serializers import customer as s
from ..serializers import teams
from .base import CustomerViewSet


class AccountViewSet(CustomerViewSet):
    owner_actions = ("partial_update",)
    pagination_class = None

    def _body(self):
        scope = self.request.scope
        wallet = portal_selectors.wallet_of(account_id=scope.account_id)
        account = scope.account
        return {
            "id": account.pk, "name": account.name, "email": account.email, "created_at": account.created_at,
            "role": "owner" if scope.is_owner else "member",
            "wallet": {**wallet, "low_balance_threshold_micros": wallet["threshold_micros"],
                       "currency": settings.HARNMODEL_CURRENCY},
        }  # fmt: skip

    @extend_schema(responses=s.AccountSerializer)
    def retrieve(self, request):
        return Response(s.AccountSerializer(self._body()).data)

    @extend_schema(request=s.AccountRenameSerializer, responses=s.AccountSerializer)
    def partial_update(self, request):
        body = s.AccountRenameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        form = AccountNameForm(data=body.validated_data)  # the portal's rule (no links in the name)
        if not form.is_valid():
            raise ValidationError({k: list(v) for k, v in form.errors.items()})
        portal_services.account_rename(account_id=self.account_id, name=form.cleaned_data["name"])
        request.scope.account.refresh_from_db(fields=["name"])
        return Response(s.AccountSerializer(self._body()).data)


class MemberViewSet(mixins.DestroyModelMixin, CustomerViewSet):
    serializer_class = s.MemberSerializer
    owner_actions = ("destroy", "partial_update")

    def get_queryset(self):
        return Membership.objects.filter(account_id=self.account_id).select_related("user")

    def _data(self, members: list[Membership]):
        spend = projects.member_spend(account_id=self.account_id, memberships=members)
        return s.MemberSerializer(members, many=True, context={"spend": spend}).data

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self._data(list(page)))

    @extend_schema(request=teams.MemberBudgetSerializer, responses=s.MemberSerializer)
    def partial_update(self, request, pk=None):
        """A member's budgets: what the keys they made may spend together per day and month."""
        body = teams.MemberBudgetSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            member = projects.member_budget_set(account_id=self.account_id, membership_id=int(pk),
                                                changes=dict(body.validated_data))  # fmt: skip
        except Membership.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such member.") from exc
        return Response(self._data([member])[0])

    def destroy(self, request, pk=None):
        try:
            portal_services.member_remove(account_id=self.account_id, membership_id=int(pk))
        except Membership.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such member.") from exc
        except portal_services.PortalError as exc:
            raise ApiProblem(409, "last_owner", "An account needs at least one owner.") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, CustomerViewSet):
    serializer_class = s.InvitationSerializer
    owner_actions = ("list", "create", "revoke")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return Invitation.objects.filter(account_id=self.account_id, pk__in=[
            i.pk for i in portal_selectors.invitations_pending(account_id=self.account_id)])  # fmt: skip

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request):
        body = s.InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:  # the portal's service: its daily cap (HARNMODEL_INVITATIONS_PER_DAY) applies here too
            invitation = portal_services.invitation_create(
                account_id=self.account_id, email=body.validated_data["email"], role=body.validated_data["role"],
                invited_by=request.scope.user, site_url=site_url(),
            )  # fmt: skip
        except portal_services.PortalError as exc:
            if str(exc) == "invitation_limit":
                raise ApiProblem(429, "invitation_limit", "This account sent as many invitations as it may today.") \
                    from exc  # fmt: skip
            raise ApiProblem(409, "already_member", "This person is already a member.", param="email") from exc
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        try:
            portal_services.invitation_revoke(account_id=self.account_id, invitation_id=int(pk))
        except Invitation.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such pending invitation.") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class ManagementKeyViewSet(mixins.ListModelMixin, CustomerViewSet):
    """Management keys of the account. Made only from a signed-in session (a key cannot mint keys)."""

    serializer_class = s.ManagementKeySerializer
    owner_actions = ("create", "revoke")

    def get_queryset(self):
        return ManagementKey.objects.filter(account_id=self.account_id)

    @extend_schema(request=s.ManagementKeyCreateSerializer, responses={201: s.ManagementKeyCreatedSerializer})
    def create(self, request):
        if isinstance(request.auth, ManagementKey):
            raise ApiProblem(403, "session_required", "Management keys are created from a signed-in session.")
        body = s.ManagementKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, secret = services.management_key_issue(
            account_id=self.account_id, user=request.user, name=body.validated_data["name"]
        )
        data = {**s.ManagementKeySerializer(key).data, "secret": secret}
        return Response(data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses=s.ManagementKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        try:
            key = services.management_key_revoke(key_id=int(pk), account_id=self.account_id)
        except ManagementKey.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such management key.") from exc
        return Response(s.ManagementKeySerializer(key).data)
