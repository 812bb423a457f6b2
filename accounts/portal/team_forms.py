"""Forms of the projects page: a project (name, budgets) and a member's budgets. Amounts are typed in
currency units and become integer micros (the portal's one amount rule, forms._amount)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .forms import _amount


class _Budgets(forms.Form):
    budget_daily = forms.CharField(label=_("Budget per day"), required=False)
    budget_monthly = forms.CharField(label=_("Budget per month"), required=False)

    def clean_budget_daily(self):
        return self._positive(_amount(self.cleaned_data["budget_daily"]))

    def clean_budget_monthly(self):
        return self._positive(_amount(self.cleaned_data["budget_monthly"]))

    @staticmethod
    def _positive(micros: int | None) -> int | None:
        if micros is not None and micros <= 0:
            raise forms.ValidationError(_("A budget must be above zero; leave it empty for no limit."))
        return micros

    def budgets(self) -> dict:
        return {"budget_daily_micros": self.cleaned_data.get("budget_daily"),
                "budget_monthly_micros": self.cleaned_data.get("budget_monthly")}  # fmt: skip

    @staticmethod
    def initial_of(row) -> dict:
        from billing.money import decimal_string

        return {f"budget_{p}": decimal_string(v) if (v := getattr(row, f"budget_{p}_micros")) is not None else ""
                for p in ("daily", "monthly")}  # fmt: skip


class ProjectForm(_Budgets):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("A team or an application, e.g. “search”."))
    field_order = ["name", "budget_daily", "budget_monthly"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("A project needs a name."))
        return name


class MemberBudgetForm(_Budgets):
    pass
