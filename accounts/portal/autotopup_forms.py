"""The Auto top-up page's form: on or off, the threshold and the amount, within the platform's bounds."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.money import format_amount

from .forms import _amount


class AutoTopUpForm(forms.Form):
    enabled = forms.BooleanField(label=_("Top up automatically"), required=False)
    threshold = forms.CharField(label=_("When the balance falls below"), max_length=32)
    amount = forms.CharField(label=_("Charge the card"), max_length=32)

    def __init__(self, *args, bounds, **kwargs):
        super().__init__(*args, **kwargs)
        self.bounds = bounds
        self.fields["amount"].help_text = _("Between %(low)s and %(high)s.") % {
            "low": format_amount(bounds.min_amount_micros),
            "high": format_amount(bounds.max_amount_micros),
        }
        self.fields["threshold"].help_text = _("At most %(high)s.") % {
            "high": format_amount(bounds.max_threshold_micros)
        }

    def clean_threshold(self) -> int:
        micros = _amount(self.cleaned_data["threshold"], required=True) or 0
        if micros > self.bounds.max_threshold_micros:
            raise forms.ValidationError(
                _("At most %(high)s.") % {"high": format_amount(self.bounds.max_threshold_micros)}
            )
        return micros

    def clean_amount(self) -> int:
        micros = _amount(self.cleaned_data["amount"], required=True) or 0
        if not self.bounds.min_amount_micros <= micros <= self.bounds.max_amount_micros:
            raise forms.ValidationError(self.fields["amount"].help_text)
        return micros
