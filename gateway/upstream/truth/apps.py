from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TruthConfig(AppConfig):
    name = "gateway.upstream.truth"
    label = "truth"
    verbose_name = _("Channel truth")
