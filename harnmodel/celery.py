"""The Celery app. Broker: REDIS_URL in production, the filesystem in the embedded demo."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")

app = Celery("harnmodel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import gateway.observe.metrics  # noqa: E402,F401  (connects the Celery task-outcome counters)
