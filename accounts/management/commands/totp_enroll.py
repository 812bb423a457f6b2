import io

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.audit import audit_record
from accounts.otp import EnrolError, totp_device_enroll


class Command(BaseCommand):
    help = (
        "Enrol a staff user's authenticator app for the console's TOTP sign-in (HARNMODEL_ADMIN_TOTP). "
        "Prints the otpauth:// URI and a QR code once; nothing else ever shows the secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="Replace an existing device (lost phone).")

    def handle(self, *args, username: str, reset: bool, **options) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        try:
            device, replaced = totp_device_enroll(user=user, reset=reset)
        except EnrolError as exc:
            raise CommandError(str(exc)) from None
        # The audit trail records that it happened, never the key or the URI.
        audit_record(
            actor=None,
            action="totp_enroll",
            obj=device,
            object_repr=f"{username}: TOTP device",
            after={"user": username, "device": device.pk, "replaced": replaced, "by": "cli"},
        )

        uri = device.config_url
        qr = io.StringIO()
        segno.make(uri, error="m").terminal(out=qr, compact=True)
        action = "Replaced the TOTP device" if replaced else "Enrolled a TOTP device"
        self.stdout.write(f"{action} for {username}. Scan the QR code (or paste the URI) into an authenticator app.")
        self.stdout.write("This is the only time the secret is shown; run again with --reset if it is lost.\n")
        self.stdout.write(qr.getvalue())
        self.stdout.write(uri)
