"""Failure counters in the cache (Redis in production, so every worker shares them).

A fixed window per key: the first attempt starts it, later ones count inside it. A log-in attempt
is counted *before* the password is checked (one atomic increment: Redis INCR, or the local cache's
locked incr in the one-process embedded run), so N parallel guesses cannot all pass a "not blocked
yet" check together; a success gives its count back, so only failures stay counted and a customer
who types the right password is never slowed down by one who does not.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wants it to be unless a trusted
    # proxy rewrites it, and trusting it would let anyone reset their own counter.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


BACKOFF_CAP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: int
    backoff: bool = False  # each lockout within a day lasts twice the one before (window, 2×, 4× … ≤ 24 h)

    def _key(self, value: str) -> str:
        digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
        return f"portal:throttle:{self.scope}:{digest}"

    def blocked(self, value: str) -> bool:
        return int(cache.get(self._key(value)) or 0) >= self.limit

    def fail(self, value: str) -> None:
        key = self._key(value)
        if not cache.add(key, 1, self.window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, self.window)

    def hit(self, value: str) -> bool:
        """Count one attempt now and say whether it is within the limit (atomic: check and count at once)."""
        key = self._key(value)
        cache.add(key, 0, self.window)  # starts the window; a no-op while it runs
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, self.window)
            count = 1
        if count == self.limit + 1 and self.backoff:  # this attempt starts a lockout
            self._lock_out(key)
        return count <= self.limit

    def _lock_out(self, key: str) -> None:
        strikes_key = key + ":lockouts"
        cache.add(strikes_key, 0, BACKOFF_CAP_SECONDS)
        try:
            strikes = cache.incr(strikes_key)
        except ValueError:
            strikes = 1
        cache.touch(key, min(self.window * 2 ** min(strikes - 1, 16), BACKOFF_CAP_SECONDS))

    def give_back(self, value: str) -> None:
        try:
            cache.decr(self._key(value))
        except ValueError:  # the window ended meanwhile: nothing to give back
            pass

    def reset(self, value: str) -> None:
        key = self._key(value)
        cache.delete_many([key, key + ":lockouts"])


def login_limits() -> tuple[Limit, Limit]:
    window = settings.HARNMODEL_LOGIN_WINDOW_SECONDS
    return (
        Limit("login-email", settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL, window, backoff=True),
        Limit("login-ip", settings.HARNMODEL_LOGIN_FAILURES_PER_IP, window, backoff=True),
    )


def attempt(limits: tuple[Limit, Limit], request, username: str) -> bool:
    """Count a log-in attempt per user and per address before its password is checked; False = refuse it."""
    by_user, by_ip = limits
    ip = client_ip(request)
    within_user = by_user.hit(username)
    within_ip = by_ip.hit(ip)  # both always count, so spreading guesses over users still hits the address
    return within_user and within_ip


def succeeded(limits: tuple[Limit, Limit], request, username: str) -> None:
    """The right password: the user's failures are forgotten and the address gets this attempt back."""
    by_user, by_ip = limits
    by_user.reset(username)
    by_ip.give_back(client_ip(request))


def login_attempt(request, email: str) -> bool:
    return attempt(login_limits(), request, email)


def login_succeeded(request, email: str) -> None:
    succeeded(login_limits(), request, email)


def admin_login_limits() -> tuple[Limit, Limit]:
    """The console's sign-in (/admin/login/): its own counters, same settings as the portal's."""
    window = settings.HARNMODEL_LOGIN_WINDOW_SECONDS
    return (
        Limit("admin-login-user", settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL, window, backoff=True),
        Limit("admin-login-ip", settings.HARNMODEL_LOGIN_FAILURES_PER_IP, window, backoff=True),
    )


# Sign-ups, password-reset mails and redemption guesses: per client address / per account.
SIGNUP = Limit("signup-ip", 10, 3600)
MAIL = Limit("mail-ip", 10, 3600)
REDEEM = Limit("redeem-account", 10, 3600)
