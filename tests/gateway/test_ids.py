import threading

from gateway.wire import ids
from gateway.wire.responses import new_id


def test_ids_have_the_asked_length_and_do_not_repeat():
    seen = {ids.token_hex(16) for _ in range(20_000)}  # crosses several 64 KiB refills
    assert len(seen) == 20_000 and all(len(token) == 32 for token in seen)
    assert len(ids.token_bytes(100_000)) == 100_000  # larger than one buffer
    assert new_id("resp").startswith("resp_") and len(new_id("resp")) == 5 + 48


def test_threads_never_share_bytes():
    results: list[set[str]] = [set() for _ in range(4)]

    def draw(out: set[str]) -> None:
        out.update(ids.token_hex(16) for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set().union(*results)) == 20_000
