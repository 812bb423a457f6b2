"""Moving accounts between customer groups from the console's account list, many at once, each audited."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import CustomerGroup
from gateway.relay.catalog import clear_caches

from .audit import audit_record
from .models import Account


class AccountActionForm(ActionForm):
    group = forms.ModelChoiceField(queryset=CustomerGroup.objects.order_by("slug"), required=False,
                                   label="Group", empty_label="(for Move to group)")


@admin.action(description="Move to group…", permissions=["change"])
def move_to_group(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Account]) -> None:
    group = CustomerGroup.objects.filter(pk=request.POST.get("group") or None).first()
    if group is None:
        messages.warning(request, "Choose the group to move the selected accounts to.")
        return
    moved = 0
    for account in queryset.select_related("group").exclude(group=group):
        before = account.group.slug
        Account.objects.filter(pk=account.pk).update(group=group)
        audit_record(actor=request.user, action="account_group", obj=account, before={"group": before},
                     after={"group": group.slug})
        moved += 1
    clear_caches()  # the key cache holds each account's group: this process prices them at once
    messages.success(request, f"Moved {moved} account(s) to {group}. Their next requests pay its prices.")
