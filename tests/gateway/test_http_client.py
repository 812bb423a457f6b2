"""The shared upstream client is closed when its event loop shuts down (asyncio.run, asyncio.Runner:
uvicorn and pytest-asyncio), so no aiohttp session is left to be reported "Unclosed client session"
after the test summary or at a worker's exit."""

import asyncio
import gc
import warnings

from gateway.relay.http import get_client


def test_the_shared_client_closes_with_its_loop(caplog):
    async def use():
        client = get_client()
        assert get_client() is client  # one per loop
        await asyncio.sleep(0)
        return client

    client = asyncio.run(use())
    assert client.is_closed
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with caplog.at_level("ERROR", logger="asyncio"):
            del client
            gc.collect()
    assert "Unclosed" not in caplog.text


def test_each_loop_gets_its_own_open_client():
    async def use():
        client = get_client()
        assert not client.is_closed
        return client

    with asyncio.Runner() as runner:
        first = runner.run(use())
        assert runner.run(use()) is first and not first.is_closed
    assert first.is_closed
    assert asyncio.run(use()) is not first
