"""A real-HTTP fake upstream for model lists (OpenAI, Anthropic paginated, Gemini paginated) and balance
endpoints (OpenRouter credits, DeepSeek balance, new-api billing). Tests change its state between calls."""

from aiohttp import web

from tests.upstream.threaded import ThreadedServer


class FakeUpstream(ThreadedServer):
    host = "127.0.0.1"
    port = 0
    thread_name = "fake-upstream-sync"

    def __init__(self) -> None:
        self.models: list[str] = []
        self.page_size = 2  # Anthropic / Gemini pages: forces pagination
        self.balance = "10.00"  # one amount, served in each kind's shape
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _page(self, start: int) -> tuple[list[str], int | None]:
        names = self.models[start : start + self.page_size]
        end = start + len(names)
        return names, end if end < len(self.models) else None

    async def models_(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        if request.path.startswith("/v1beta"):
            if request.headers.get("x-goog-api-key") != "k":
                return web.json_response({"error": {"code": 403}}, status=403)
            names, more = self._page(int(request.query.get("pageToken") or 0))
            body = {"models": [{"name": f"models/{n}"} for n in names]}
            if more is not None:
                body["nextPageToken"] = str(more)
            return web.json_response(body)
        if request.headers.get("x-api-key"):  # Anthropic
            after = request.query.get("after_id")
            start = self.models.index(after) + 1 if after else 0
            names, more = self._page(start)
            return web.json_response({"data": [{"id": n, "display_name": n} for n in names],
                                      "has_more": more is not None, "last_id": names[-1] if names else None})  # fmt: skip
        if request.headers.get("authorization") != "Bearer k":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": n, "object": "model"} for n in self.models]})

    async def credits(self, request: web.Request) -> web.Response:
        return web.json_response({"data": {"total_credits": 100.0, "total_usage": 100.0 - float(self.balance)}})

    async def deepseek(self, request: web.Request) -> web.Response:
        return web.json_response({"is_available": True, "balance_infos": [
            {"currency": "CNY", "total_balance": self.balance, "granted_balance": "0.00",
             "topped_up_balance": self.balance}]})  # fmt: skip

    async def subscription(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "billing_subscription", "hard_limit_usd": 50})

    async def usage(self, request: web.Request) -> web.Response:
        used_cents = round((50 - float(self.balance)) * 100, 2)
        return web.json_response({"object": "list", "total_usage": used_cents})

    def app(self) -> web.Application:
        app = web.Application()
        for path in ("/v1/models", "/v1beta/models"):
            app.router.add_get(path, self.models_)
        app.router.add_get("/api/v1/credits", self.credits)
        app.router.add_get("/user/balance", self.deepseek)
        app.router.add_get("/v1/dashboard/billing/subscription", self.subscription)
        app.router.add_get("/v1/dashboard/billing/usage", self.usage)
        return app
