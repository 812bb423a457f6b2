from django.urls import path

from ..api import portal_views as management_keys
from .views import account, auth, billing, dashboard, invoices, keys, playground, public, receipts, topup_qr, usage

app_name = "portal"
urlpatterns = [
    path("", dashboard.home, name="home"),
    # sign-up, log in/out, passwords
    path("signup/", auth.signup, name="signup"),
    path("signup/sent/", auth.signup_done, name="signup_done"),
    path("signup/resend/", auth.signup_resend, name="signup_resend"),
    path("signup/confirm/<uidb64>/<token>/", auth.signup_confirm, name="signup_confirm"),
    path("login/", auth.login, name="login"),
    path("logout/", auth.logout, name="logout"),
    path("password/reset/", auth.password_reset, name="password_reset"),
    path("password/reset/sent/", auth.password_reset_done, name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", auth.password_reset_confirm, name="password_reset_confirm"),
    path("password/reset/done/", auth.password_reset_complete, name="password_reset_complete"),
    path("password/change/", auth.password_change, name="password_change"),
    path("password/change/done/", auth.password_change_done, name="password_change_done"),
    path("invite/<str:token>/", auth.invitation_accept, name="invitation_accept"),
    # the account
    path("account/", account.account, name="account"),
    path("account/name/", account.account_rename, name="account_rename"),
    path("account/switch/", account.account_switch, name="account_switch"),
    path("account/invitations/", account.invitation_create, name="invitation_create"),
    path("account/invitations/<int:invitation_id>/revoke/", account.invitation_revoke, name="invitation_revoke"),
    path("account/members/<int:membership_id>/remove/", account.member_remove, name="member_remove"),
    # pages
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("keys/", keys.key_list, name="keys"),
    path("keys/new/", keys.key_create, name="key_create"),
    path("keys/<int:key_id>/created/", keys.key_created, name="key_created"),
    path("keys/<int:key_id>/revoke/", keys.key_revoke, name="key_revoke"),
    path("keys/management/", management_keys.management_keys, name="management_keys"),
    path("keys/management/new/", management_keys.management_key_create, name="management_key_create"),
    path("keys/management/<int:key_id>/revoke/", management_keys.management_key_revoke,
         name="management_key_revoke"),  # fmt: skip
    path("usage/", usage.usage, name="usage"),
    path("usage/export.csv", usage.usage_export, name="usage_export"),
    path("usage/requests/<str:request_id>.json", usage.usage_record, name="usage_record"),
    path("usage/requests/<str:request_id>/receipt/", receipts.receipt, name="usage_receipt"),
    path("usage/requests/<str:request_id>/dispute/", receipts.dispute, name="usage_dispute"),
    path("billing/", billing.billing, name="billing"),
    path("billing/redeem/", billing.redeem, name="redeem"),
    path("billing/topup/", billing.topup, name="topup"),
    path("billing/topup/<uuid:order_id>/", topup_qr.topup_qr, name="topup_qr"),
    path("billing/topup/<uuid:order_id>/status/", topup_qr.topup_status, name="topup_status"),
    path("billing/alert/", billing.threshold, name="threshold"),
    path("billing/invoices/", invoices.invoice_list, name="invoices"),
    path("billing/invoices/details/", invoices.invoice_profile, name="invoice_profile"),
    path("billing/invoices/request/", invoices.invoice_request, name="invoice_request"),
    path("billing/invoices/<int:request_id>.pdf", invoices.invoice_pdf, name="invoice_pdf"),
    path("billing/statements/<int:year>-<int:month>.csv", invoices.statement_csv, name="statement_csv"),
    path("billing/statements/<int:year>-<int:month>.pdf", invoices.statement_pdf_view, name="statement_pdf"),
    path("models/", public.models, name="models"),
    path("docs/", public.docs, name="docs"),
    path("docs/agents/", public.docs_agents, name="docs_agents"),
    path("docs/<slug:door>/", public.docs_door, name="docs_door"),
    path("playground/", playground.playground, name="playground"),
]
