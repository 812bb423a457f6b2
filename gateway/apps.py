from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from gateway import taskrun_admin, taskruns  # noqa: F401  (taskrun_admin registers the read-only TaskRun admin)

        taskruns.connect_celery_signals()  # every process with Django loaded records scheduled task runs
