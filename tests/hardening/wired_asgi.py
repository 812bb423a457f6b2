"""harnmodel.asgi:application for the secret-hygiene server, with the relay's request log wired in if the relay
does not do it yet (so its lines are part of what the test scans)."""

from harnmodel.asgi import application
from tests.hardening.support import relay_is_wired, wired_settle

if not relay_is_wired():
    from gateway.relay.job import RelayJob

    RelayJob._settle = wired_settle(RelayJob._settle)

__all__ = ["application"]
