from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Customers"

    def ready(self) -> None:
        from . import audit

        audit.connect()  # the gateway signals operator actions; the audit trail lives here
        from .api import webhooks

        webhooks.connect()  # billing and gateway signal events; webhooks deliver them
        from . import projects

        projects.connect()  # every API key saved lands in a project
