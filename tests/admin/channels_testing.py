"""Channels' test communicator without Daphne.

`channels.testing/__init__.py` also imports its live-server test case, which needs the `daphne` server; we serve
with uvicorn and do not install it. The communicators themselves need nothing of Daphne, so when it is missing
the package is opened without its __init__ and the real WebsocketCommunicator is imported from it. Adding
`daphne` to the dev dependencies makes this a plain import.
"""

import importlib
import sys
import types
from pathlib import Path

try:
    from channels.testing import WebsocketCommunicator
except ModuleNotFoundError as exc:
    if exc.name != "daphne":
        raise
    import channels

    sys.modules.pop("channels.testing", None)
    package = types.ModuleType("channels.testing")
    package.__path__ = [str(Path(channels.__file__).parent / "testing")]
    sys.modules["channels.testing"] = package
    WebsocketCommunicator = importlib.import_module("channels.testing.websocket").WebsocketCommunicator

__all__ = ["WebsocketCommunicator"]
