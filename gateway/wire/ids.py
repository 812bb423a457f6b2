"""Random ids for requests, responses and output items, without a system call per id.

`secrets.token_bytes` asks the kernel every time; on the hot path (five or more ids a request) that
was ~9 % of the event loop's CPU. These ids must be unguessable, not secret keys: bytes still come
from os.urandom, read 64 KiB at a time per thread. API keys and codes keep using `secrets`.
"""

import os
import threading

_CHUNK = 65536
_local = threading.local()


def token_bytes(nbytes: int) -> bytes:
    buffer: bytes = getattr(_local, "buffer", b"")
    offset: int = getattr(_local, "offset", 0)
    if offset + nbytes > len(buffer):
        buffer, offset = os.urandom(max(_CHUNK, nbytes)), 0
        _local.buffer = buffer
    _local.offset = offset + nbytes
    return buffer[offset : offset + nbytes]


def token_hex(nbytes: int) -> str:
    return token_bytes(nbytes).hex()
