"""The receipt verification samples on the portal's docs page: read from docs/receipts.md, the one copy
(a test runs them against a real receipt), with the customer's own base URL filled in."""

import functools
import re

from django.conf import settings

_BLOCK = re.compile(r"```(python|javascript)\n(.*?)```", re.S)


@functools.cache
def _samples() -> dict[str, str]:
    try:
        text = (settings.BASE_DIR / "docs" / "receipts.md").read_text(encoding="utf-8")
    except OSError:  # an install without the docs folder: the page links to the JWKS only
        return {}
    return {language: code for language, code in _BLOCK.findall(text)}


def samples(origin: str) -> dict[str, str]:
    """{"receipt_py": …, "receipt_node": …} pointed at `origin` (scheme://host, no path)."""
    found = _samples()
    out = {}
    for language, name in (("python", "receipt_py"), ("javascript", "receipt_node")):
        if language in found:
            out[name] = found[language].replace("https://your-gateway", origin)
    return out
