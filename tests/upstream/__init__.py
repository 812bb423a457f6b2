"""A real HTTP test upstream (aiohttp) speaking the OpenAI Responses and Chat Completions APIs.

Import it from `tests.upstream.server`; run it by hand with `python -m tests.upstream.server --port N`.
"""
