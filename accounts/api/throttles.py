"""Rate limits of the management API, per caller (management key, or user), on the Django cache.

Reads share the `api` rate; writes also count against `api_write` (HARNMODEL_API_RATE /
HARNMODEL_API_WRITE_RATE). Invitations and redemptions keep their own portal limits on top."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

SAFE = {"GET", "HEAD", "OPTIONS"}


class CallerThrottle(ScopedRateThrottle):
    def allow_request(self, request, view):
        self.scope = "api"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if not self._allow(request, view):
            return False
        if request.method in SAFE:
            return True
        self.scope = "api_write"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return self._allow(request, view)

    def get_rate(self) -> str:
        # Read at call time (not DRF's import-time copy), so a changed setting applies at once.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def _allow(self, request, view) -> bool:
        # SimpleRateThrottle.allow_request, not ScopedRateThrottle's (which reads the scope from the view).
        return super(ScopedRateThrottle, self).allow_request(request, view)

    def get_cache_key(self, request, view):
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
