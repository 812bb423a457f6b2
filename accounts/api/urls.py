"""/api/v1/: the customer scope at the top, the operator scope under ops/, the schema and its docs page."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from .views import account, billing, keys, ops, ops_catalog, projects, usage, webhooks
from .views.docs import DocsView, not_found

customer = SimpleRouter()
customer.register("keys", keys.ApiKeyViewSet, basename="key")
customer.register("management-keys", account.ManagementKeyViewSet, basename="management-key")
customer.register("projects", projects.ProjectViewSet, basename="project")
customer.register("members", account.MemberViewSet, basename="member")
customer.register("invitations", account.InvitationViewSet, basename="invitation")
customer.register("usage", usage.UsageViewSet, basename="usage")
customer.register("spend/daily", usage.DailySpendViewSet, basename="spend-daily")
customer.register("ledger", usage.LedgerViewSet, basename="ledger")
customer.register("topups", billing.TopUpViewSet, basename="topup")
customer.register("redeem", billing.RedeemViewSet, basename="redeem")
customer.register("models", billing.ModelViewSet, basename="model")
customer.register("webhooks", webhooks.WebhookViewSet, basename="webhook")
customer.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")

operator = SimpleRouter()
operator.register("customers", ops.CustomerViewSet, basename="ops-customer")
operator.register("adjustments", ops.AdjustmentViewSet, basename="ops-adjustment")
operator.register("usage", ops.UsageViewSet, basename="ops-usage")
operator.register("management-keys", ops.OperatorKeyViewSet, basename="ops-management-key")
operator.register("channels", ops_catalog.ChannelViewSet, basename="ops-channel")
operator.register("models", ops_catalog.ModelViewSet, basename="ops-model")
operator.register("redemption-batches", ops_catalog.RedemptionBatchViewSet, basename="ops-redemption-batch")
operator.register("webhooks", webhooks.OpsWebhookViewSet, basename="ops-webhook")
operator.register("webhook-deliveries", webhooks.OpsWebhookDeliveryViewSet, basename="ops-webhook-delivery")

app_name = "api"
urlpatterns = [
    path("account/", account.AccountViewSet.as_view({"get": "retrieve", "patch": "partial_update"}), name="account"),
    path("", include(customer.urls)),
    path("ops/", include(operator.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"", not_found, name="not-found"),  # any other path under /api/v1/: a 404 in the error shape
]
