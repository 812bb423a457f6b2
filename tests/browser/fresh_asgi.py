"""The browser tests' server: the platform's ASGI app, with Django's content-type cache emptied per request.

Each browser test flushes the database it shares with this long-lived process (its rows must be committed for
the server to see them), and the flush gives the content types new ids; the admin's LogEntry of a console
save would then name a content type id that is gone (a foreign-key failure at commit, a 500)."""

from harnmodel.asgi import application as platform


async def application(scope, receive, send):
    if scope["type"] == "http":
        from django.contrib.contenttypes.models import ContentType  # after harnmodel.asgi set Django up

        ContentType.objects.clear_cache()
    await platform(scope, receive, send)
