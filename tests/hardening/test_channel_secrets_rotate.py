"""`channel_secrets_rotate`: encrypt with key A, rotate to key B (A as an old key), then B alone decrypts."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gateway.crypto import SecretUnreadable, decrypt_secret, encrypt_secret
from gateway.models import Channel
from tests.factories import make_channel, make_model

KEY_A = "key-A-" + "a" * 40
KEY_B = "key-B-" + "b" * 40
SECRETS = {"openai-main": "sk-upstream-one-1234567890", "anthropic": "sk-ant-api03-two-0987654321"}

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> dict:
    out = io.StringIO()
    call_command("channel_secrets_rotate", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def under_key_a(settings):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_A
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []
    make_model("gpt-4o")
    for name, secret in SECRETS.items():
        make_channel(name, provider="openai_responses", base_url="https://up.example/v1", secret=secret)
    make_channel("sim-no-secret")
    return {c.name: c.secret_encrypted for c in Channel.objects.all()}


def test_rotation_moves_every_secret_to_the_new_key(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]

    counts = rotate()

    assert counts == {"channels": 3, "rotated": 2, "already_current": 0, "empty": 1, "unreadable": 0, "dry_run": False}
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []  # the old key is retired
    for channel in Channel.objects.exclude(name="sim-no-secret"):
        assert channel.secret_encrypted != under_key_a[channel.name]
        assert decrypt_secret(channel.secret_encrypted) == SECRETS[channel.name]
        assert channel.secret_hint == f"…{SECRETS[channel.name][-4:]}"  # unchanged: same plaintext
    assert Channel.objects.get(name="sim-no-secret").secret_encrypted == ""


def test_rotation_is_idempotent(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]
    rotate()
    stored = {c.name: c.secret_encrypted for c in Channel.objects.all()}

    again = rotate()

    assert (again["rotated"], again["already_current"], again["empty"]) == (0, 2, 1)
    assert {c.name: c.secret_encrypted for c in Channel.objects.all()} == stored  # nothing rewritten


def test_without_the_old_key_the_secrets_stay_unreadable_and_untouched(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []
    with pytest.raises(SecretUnreadable):
        decrypt_secret(under_key_a["openai-main"])

    out = io.StringIO()
    with pytest.raises(CommandError, match="openai-main"):
        call_command("channel_secrets_rotate", stdout=out)

    assert json.loads(out.getvalue())["unreadable"] == 2
    assert {c.name: c.secret_encrypted for c in Channel.objects.all()} == under_key_a


def test_dry_run_writes_nothing(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]
    assert rotate("--dry-run")["rotated"] == 2
    assert {c.name: c.secret_encrypted for c in Channel.objects.all()} == under_key_a


def test_mixed_keys_rotate_to_one(settings, under_key_a):
    settings.HARNMODEL_ENCRYPTION_KEY = KEY_B
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = [KEY_A]
    Channel.objects.filter(name="anthropic").update(secret_encrypted=encrypt_secret(SECRETS["anthropic"]))  # under B

    counts = rotate()

    assert (counts["rotated"], counts["already_current"]) == (1, 1)
    settings.HARNMODEL_ENCRYPTION_KEYS_OLD = []
    assert {decrypt_secret(c.secret_encrypted) for c in Channel.objects.exclude(secret_encrypted="")} == set(
        SECRETS.values()
    )
