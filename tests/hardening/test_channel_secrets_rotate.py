"""`channel_secrets_rotate`: encrypt with key A, rotate to key B (A as an old key), then B alone decrypts.
Every credential of every key pool is rotated; a channel without credentials has nothing to rotate."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gateway.crypto import SecretUnreadable, decrypt_secret, encrypt_secret
from gateway.models import ChannelCredential
from gateway.pool.store import add_secrets
from tests.factories import make_channel, make_model

KEY_A = "key-A-" + "a" * 40
KEY_B = "key-B-" + "b" * 40
SECRETS = {"openai-main": "sk-upstream-one-1234567890", "anthropic": "sk-ant-api03-two-0987654321"}
SECOND = "sk-upstream-three-5555555555"  # a second key in openai-main's pool

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> dict:
    out = io.StringIO()
    call_command("channel_secrets_rotate", *args, stdout=out)
    return json.loads(out.getvalue())


def stored() -> dict[str, str]:
    return dict(ChannelCredential.objects.values_list("public_id", "secret_encrypted"))


@pytest.fixture
def under_key_a(settings):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_A
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []
    make_model("gpt-4o")
    for name, secret in SECRETS.items():
        channel = make_channel(name, provider="openai_responses", base_url="https://up.example/v1", secret=secret)
        if name == "openai-main":
            add_secrets(channel, [SECOND])
    make_channel("sim-no-secret")
    return stored()


def test_rotation_moves_every_secret_to_the_new_key(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]

    counts = rotate()

    assert counts == {"credentials": 3, "rotated": 3, "already_current": 0, "unreadable": 0, "dry_run": False}
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []  # the old key is retired
    for cred in ChannelCredential.objects.select_related("channel"):
        assert cred.secret_encrypted != under_key_a[cred.public_id]
        plain = decrypt_secret(cred.secret_encrypted)
        assert plain in (SECRETS[cred.channel.name], SECOND)
        assert cred.secret_hint == f"…{plain[-4:]}"  # unchanged: same plaintext


def test_rotation_is_idempotent(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]
    rotate()
    before = stored()

    again = rotate()

    assert (again["rotated"], again["already_current"]) == (0, 3)
    assert stored() == before  # nothing rewritten


def test_without_the_old_key_the_secrets_stay_unreadable_and_untouched(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []
    with pytest.raises(SecretUnreadable):
        decrypt_secret(next(iter(under_key_a.values())))

    out = io.StringIO()
    with pytest.raises(CommandError, match="openai-main"):
        call_command("channel_secrets_rotate", stdout=out)

    assert json.loads(out.getvalue())["unreadable"] == 3
    assert stored() == under_key_a


def test_dry_run_writes_nothing(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]
    assert rotate("--dry-run")["rotated"] == 3
    assert stored() == under_key_a


def test_mixed_keys_rotate_to_one(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]
    ChannelCredential.objects.filter(channel__name="anthropic").update(
        secret_encrypted=encrypt_secret(SECRETS["anthropic"])  # under B already
    )

    counts = rotate()

    assert (counts["rotated"], counts["already_current"]) == (2, 1)
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []
    assert {decrypt_secret(c.secret_encrypted) for c in ChannelCredential.objects.all()} == {*SECRETS.values(), SECOND}
