"""Dashboard: balance first, spend, a 30-day chart by model, error rate, low-balance banner."""

from django.shortcuts import redirect, render

from .. import selectors
from ..access import member_required


def home(request):
    return redirect("portal:dashboard" if request.user.is_authenticated else "portal:login")


@member_required
def dashboard(request):
    data = selectors.dashboard(account_id=request.portal.account.pk)
    return render(request, "portal/dashboard.html", {"d": data, "chart": data.chart})
