from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from gateway.console import taskrun_admin  # noqa: F401  (registers the read-only TaskRun admin)
        from gateway.observe import taskruns  # noqa: F401

        taskruns.connect_celery_signals()  # every process with Django loaded records scheduled task runs
