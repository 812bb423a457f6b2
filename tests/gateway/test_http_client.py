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


def test_upstream_cookies_are_never_kept_nor_sent_on():
    """One client serves every customer: a cookie an upstream sets must not ride on the next customer's
    request (and reading Set-Cookie costs CPU on every answer). Real HTTP to a local server."""
    from aiohttp import web

    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "customer-a-secret")
        return response

    async def run():
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            client = get_client()
            for _ in range(2):
                answer = await client.get(f"http://127.0.0.1:{port}/")
                assert answer.status_code == 200 and "set-cookie" in answer.headers
            assert not client.cookies
        finally:
            await runner.cleanup()

    asyncio.run(run())
    assert seen == [None, None]
