from django.apps import AppConfig


class TruthConfig(AppConfig):
    name = "gateway.upstream.truth"
    label = "truth"
    verbose_name = "Channel truth"
