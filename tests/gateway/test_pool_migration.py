"""gateway 0006: each channel's one credential moves into its key pool, still encrypted with the same key, and back
on the way down (the first of each pool). A channel without a secret gets an empty pool."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.crypto import decrypt_secret, encrypt_secret, secret_hint

BEFORE = [("gateway", "0007_apikey_project")]
AFTER = [("gateway", "0008_channel_credential_pool")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_each_channels_secret_moves_into_its_pool_and_back():
    old = migrate(BEFORE)
    channel_model = old.get_model("gateway", "Channel")
    token = encrypt_secret("sk-migrated-upstream-4321")
    keyed = channel_model.objects.create(name="keyed", provider="openai_chat", secret_encrypted=token,
                                         secret_hint=secret_hint("sk-migrated-upstream-4321"))  # fmt: skip
    channel_model.objects.create(name="open", provider="simulator")
    try:
        new = migrate(AFTER)
        credential_model = new.get_model("gateway", "ChannelCredential")
        [cred] = credential_model.objects.all()
        assert cred.channel_id == keyed.pk and cred.secret_encrypted == token  # not re-encrypted: the same bytes
        assert decrypt_secret(cred.secret_encrypted) == "sk-migrated-upstream-4321"
        assert (cred.secret_hint, cred.enabled, cred.weight) == ("…4321", True, 1)
        assert cred.public_id.startswith("cred_") and len(cred.public_id) == 11

        old = migrate(BEFORE)
        back = old.get_model("gateway", "Channel").objects.get(pk=keyed.pk)
        assert (back.secret_encrypted, back.secret_hint) == (token, "…4321")
        assert old.get_model("gateway", "Channel").objects.get(name="open").secret_encrypted == ""
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
