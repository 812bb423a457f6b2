"""Tokens that travel by email: sign-up confirmation and invitations."""

import hashlib
import secrets

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class EmailConfirmationTokenGenerator(PasswordResetTokenGenerator):
    """Like a password-reset token: it dies when the password changes (someone signed up again with
    this address) or once the user is active (used), and after PASSWORD_RESET_TIMEOUT."""

    key_salt = "accounts.portal.tokens.EmailConfirmationTokenGenerator"

    def _make_hash_value(self, user, timestamp: int) -> str:
        return f"{user.pk}{user.password}{user.is_active}{user.email}{timestamp}"


email_confirmation_token = EmailConfirmationTokenGenerator()


def invitation_token() -> tuple[str, str]:
    """(token for the link, its SHA-256 to store)."""
    token = secrets.token_urlsafe(32)
    return token, invitation_token_hash(token)


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
