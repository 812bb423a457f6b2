"""Sign-up with email confirmation, log in (throttled), invitations, password reset (throttled)."""

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.encoding import force_str
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from .. import services, throttle
from ..forms import InvitationSignupForm, LoginForm, ResendForm, SignupForm
from ..tokens import email_confirmation_token
from . import site_url


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("portal:dashboard")


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request))
    status = 200
    if request.method == "POST":
        email = (request.POST.get("email") or "").strip().lower()
        # Counted before the password check, atomically: parallel guesses cannot all slip through.
        if not throttle.login_attempt(request, email):
            form = LoginForm(request, initial={"email": email})
            form.throttled = True
            return render(request, "registration/login.html", {"form": form, "next": _next_url(request)}, status=429)
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            auth_login(request, form.user)  # rotates the session key
            throttle.login_succeeded(request, email)
            return redirect(_next_url(request))
        status = 400
    else:
        form = LoginForm(request, initial={"email": request.GET.get("email", "")})
    return render(request, "registration/login.html", {"form": form, "next": _next_url(request)}, status=status)


logout = auth_views.LogoutView.as_view()  # POST only (Django 5)


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        if throttle.SIGNUP.blocked(throttle.client_ip(request)):
            return render(request, "registration/signup.html", {"form": form, "throttled": True}, status=429)
        if form.is_valid():
            throttle.SIGNUP.fail(throttle.client_ip(request))  # every sign-up counts, not only failures
            services.signup_start(
                email=form.cleaned_data["email"], password=form.cleaned_data["password1"], site_url=site_url(request)
            )
            return redirect(reverse("portal:signup_done") + "?email=" + form.cleaned_data["email"].lower())
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def signup_done(request):
    return render(request, "registration/signup_done.html", {"email": request.GET.get("email", "")[:254]})


@never_cache
def signup_confirm(request, uidb64: str, token: str):
    User = get_user_model()
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or user.is_active or not email_confirmation_token.check_token(user, token):
        return render(request, "registration/signup_invalid.html", status=400)
    account = services.signup_confirm(user=user)
    if account is None:
        messages.warning(request, _("Your email is confirmed, but an account with this address already has an "
                                    "owner. Ask them to invite you."))  # fmt: skip
    else:
        messages.success(request, _("Your email is confirmed. Log in to start."))
    return redirect(reverse("portal:login") + "?email=" + user.email)


@csrf_protect
@require_http_methods(["GET", "POST"])
def signup_resend(request):
    form = ResendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip = throttle.client_ip(request)
        if not throttle.MAIL.blocked(ip):
            throttle.MAIL.fail(ip)
            services.signup_resend(email=form.cleaned_data["email"], site_url=site_url(request))
        return redirect(reverse("portal:signup_done") + "?email=" + form.cleaned_data["email"].lower())
    return render(request, "registration/signup_resend.html", {"form": form})


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    invitation = services.invitation_find(token=token)
    if invitation is None:
        return render(request, "portal/invitation_invalid.html", status=404)
    user = request.user if request.user.is_authenticated else None
    has_login = get_user_model().objects.filter(email__iexact=invitation.email).exists()
    form = None
    if user is None and not has_login:
        form = InvitationSignupForm(request.POST or None, email=invitation.email)
    context = {"invitation": invitation, "form": form, "has_login": has_login, "token": token}
    if request.method == "POST":
        try:
            if user is not None:
                services.invitation_accept(invitation=invitation, user=user)
            elif form is not None and form.is_valid():
                user = services.invitation_accept_new_user(
                    invitation=invitation, password=form.cleaned_data["password1"]
                )
                auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                return render(request, "portal/invitation_accept.html", context, status=400)
        except services.PortalError:
            return render(request, "portal/invitation_accept.html", {**context, "wrong_user": True}, status=400)
        request.session["portal_account_id"] = invitation.account_id
        messages.success(request, _("You joined %(account)s.") % {"account": invitation.account.name})
        return redirect("portal:dashboard")
    return render(request, "portal/invitation_accept.html", context)


class PasswordResetView(auth_views.PasswordResetView):
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form):
        ip = throttle.client_ip(self.request)
        if throttle.MAIL.blocked(ip):
            return redirect(self.success_url)  # say the same as always; just send nothing
        throttle.MAIL.fail(ip)
        # The link's origin comes from HARNMODEL_SITE_URL, never from the Host header (Django's view
        # has no domain_override; the extra context overrides the domain it would take from the request).
        origin = urlsplit(site_url())
        self.extra_email_context = {
            **(self.extra_email_context or {}),
            "domain": origin.netloc,
            "site_name": origin.netloc,
            "protocol": origin.scheme,
        }
        return super().form_valid(form)


password_reset = PasswordResetView.as_view()
password_reset_done = auth_views.PasswordResetDoneView.as_view()
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    success_url=reverse_lazy("portal:password_reset_complete")
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view()
password_change = auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("portal:password_change_done"))
password_change_done = auth_views.PasswordChangeDoneView.as_view()
