"""M2: the portal log-in throttle counts an attempt before the password check, atomically.

60 guesses at once, from 60 threads with their own clients and database connections: with a
check-then-count throttle they all pass the "not blocked yet" check before any failure is counted.
A real (slow) password hasher keeps every guess inside that window, as on a production server.
"""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

GUESSES = 60


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_reach_the_password_check_at_most_limit_times(alice, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    alice.user.set_password("correct-horse-battery-9")
    alice.user.save()
    settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL = 5
    settings.HARNMODEL_LOGIN_FAILURES_PER_IP = 1000
    start = threading.Barrier(GUESSES)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        client = Client()
        try:
            start.wait()
            response = client.post(reverse("portal:login"), {"email": "alice@example.com", "password": f"wrong-{n}"})
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 400 = the password was checked (and wrong); 429 = refused before any check.
    assert len(statuses) == GUESSES
    assert statuses.count(400) <= 5, statuses
    assert statuses.count(400) + statuses.count(429) == GUESSES
    # And the right password waits out the window too.
    response = Client().post(
        reverse("portal:login"), {"email": "alice@example.com", "password": "correct-horse-battery-9"}
    )
    assert response.status_code == 429


def test_a_right_password_gives_its_count_back(client, alice, settings):
    """Counting before the check must not turn successes into failures: a customer who signs in
    many times from one office address is never throttled."""
    settings.HARNMODEL_LOGIN_FAILURES_PER_IP = 3
    for _ in range(6):
        other = Client()
        response = other.post(
            reverse("portal:login"), {"email": "alice@example.com", "password": "correct-horse-battery-9"}
        )
        assert response.status_code == 302
