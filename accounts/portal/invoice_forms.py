"""Forms of the Invoices page: the invoice profile (抬头, 税号, …) and a 发票 request."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import InvoiceProfile, InvoiceRequest

from .forms import _amount


class InvoiceProfileForm(forms.ModelForm):
    class Meta:
        model = InvoiceProfile
        fields = ["title", "tax_id", "address", "phone", "bank", "email"]
        labels = {
            "title": _("Invoice title (company name)"),
            "tax_id": _("Tax id"),
            "address": _("Registered address"),
            "phone": _("Phone"),
            "bank": _("Bank and account number"),
            "email": _("Mail invoices to"),
        }
        help_texts = {
            "bank": _("Address, phone and bank are needed for a special VAT invoice."),
            "email": _("Empty: the account's email."),
        }


class InvoiceRequestForm(forms.Form):
    amount = forms.CharField(label=_("Amount"), max_length=32)
    kind = forms.ChoiceField(
        label=_("Invoice type"),
        choices=[(InvoiceRequest.Kind.NORMAL, _("General VAT invoice")),
                 (InvoiceRequest.Kind.SPECIAL, _("Special VAT invoice"))],  # fmt: skip
        initial=InvoiceRequest.Kind.NORMAL,
    )

    def clean_amount(self) -> int:
        micros = _amount(self.cleaned_data["amount"], required=True)
        if not micros:
            raise forms.ValidationError(_("Enter an amount."))
        return micros
