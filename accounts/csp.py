"""Content-Security-Policy on every page Django renders (portal, console, auth pages).

Scripts and styles come only from our own origin (static files, no CDN) or carry this response's nonce
(`request.csp_nonce`); no inline `<script>`, `on…=` handler or `style=` attribute runs. Django 5.2 has
no CSP of its own. The /v1 API never reaches this middleware (gateway/relay/front.py answers it first).

connect-src 'self' covers the console's websocket on the same host (CSP3 maps 'self' to ws/wss).
No form-action: the top-up form's answer redirects to the payment provider, which form-action would block.
"""

import secrets

from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"


def policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
        )
    )


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_request(self, request) -> None:
        request.csp_nonce = secrets.token_urlsafe(16)

    def process_response(self, request, response):
        nonce = getattr(request, "csp_nonce", None)
        if nonce and HEADER not in response:
            response[HEADER] = policy(nonce)
        return response
