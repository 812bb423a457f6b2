"""Failure counters in the cache (Redis in production, so every worker shares them).

A fixed window per key: the first failure starts it, later ones count inside it. Only failures
count, so a customer who types the right password is never slowed down by one who does not.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wants it to be unless a trusted
    # proxy rewrites it, and trusting it would let anyone reset their own counter.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: int

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

    def reset(self, value: str) -> None:
        cache.delete(self._key(value))


def login_limits() -> tuple[Limit, Limit]:
    window = settings.HARNMODEL_LOGIN_WINDOW_SECONDS
    return (
        Limit("login-email", settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL, window),
        Limit("login-ip", settings.HARNMODEL_LOGIN_FAILURES_PER_IP, window),
    )


def login_blocked(request, email: str) -> bool:
    by_email, by_ip = login_limits()
    return by_email.blocked(email) or by_ip.blocked(client_ip(request))


def login_failed(request, email: str) -> None:
    by_email, by_ip = login_limits()
    by_email.fail(email)
    by_ip.fail(client_ip(request))


def login_succeeded(email: str) -> None:
    login_limits()[0].reset(email)


# Sign-ups, password-reset mails and redemption guesses: per client address / per account.
SIGNUP = Limit("signup-ip", 10, 3600)
MAIL = Limit("mail-ip", 10, 3600)
REDEEM = Limit("redeem-account", 10, 3600)
