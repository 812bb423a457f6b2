"""Customer-chosen text (an account's name) on its way into a mail to someone else.

An invitation goes to any address its sender types, so whatever the sender put in their account name
reaches a stranger's inbox under our sender address. Such text never goes into a subject, is cut to a
few words on one line, and loses what mail programs turn into links: `scheme://` and the dots of
host-like runs (`evil.example` → `evil[.]example`), including the ideographic and full-width dots that
IDNA reads as dots.
"""

import re

NAME_IN_MAIL_CHARS = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SCHEME = re.compile(r":/+")
_DOT = re.compile(r"(?<=[^\s.。．｡])[.。．｡](?=[^\s.。．｡])")


def neutralise(text: str, *, limit: int = NAME_IN_MAIL_CHARS) -> str:
    """One line, at most `limit` characters, nothing a mail program would autolink."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = _SCHEME.sub("[:]//", text)
    return _DOT.sub("[.]", text)


def looks_like_a_link(text: str) -> bool:
    """What an account name may not contain at all: a scheme or a `www.` host."""
    return bool(re.search(r"(?i)[a-z][a-z0-9+.-]*:/|\bwww[.。．｡]", text))
