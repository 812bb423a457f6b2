"""The **Dispute this charge** form of a receipt page."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.disputes import MAX_REASON


class DisputeForm(forms.Form):
    reason = forms.CharField(
        label=_("What is wrong with this charge?"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
