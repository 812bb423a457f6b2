from datetime import UTC, date, datetime
from itertools import count

import pytest
import time_machine

from billing import alerts, services, tasks
from billing.models import UsageRecord, UsageRollup, Wallet
from billing.rollups import usage_rollup
from gateway.models import ApiKey
from gateway.services import api_key_create

pytestmark = pytest.mark.django_db
_ids = count()


def record(account, at: datetime, *, key=None, model="gpt-4o", status=200, tokens=(100, 20, 50, 5), cost=1_000):
    """One usage row, written at `at` (UTC)."""
    with time_machine.travel(at, tick=False):
        return UsageRecord.objects.create(
            request_id=f"req-{next(_ids)}",
            account=account,
            api_key=key,
            model_id=model,
            status=status,
            input_tokens=tokens[0],
            cached_input_tokens=tokens[1],
            output_tokens=tokens[2],
            reasoning_tokens=tokens[3],
            cost_micros=cost,
        )


def rollup_rows(day: date) -> dict[tuple, tuple]:
    return {
        (r.account_id, r.api_key_id, r.model_id): (
            r.requests, r.errors, r.input_tokens, r.cached_input_tokens, r.output_tokens, r.reasoning_tokens,
            r.cost_micros,
        )
        for r in UsageRollup.objects.filter(day=day)
    }  # fmt: skip


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


# --- rollups ---------------------------------------------------------------------------------------


def test_rollup_sums_a_day_per_account_key_and_model(alice, bob):
    key = ApiKey.objects.get(account=alice.account)
    other = api_key_create(account_id=alice.account.pk, name="ci").key
    record(alice.account, at(5, 9), key=key)
    record(alice.account, at(5, 10), key=key, status=502, tokens=(10, 0, 0, 0), cost=0)
    record(alice.account, at(5, 11), key=other, model="gpt-4o-mini", cost=7)
    record(bob.account, at(5, 12), key=None, status=429, tokens=(0, 0, 0, 0), cost=0)

    assert usage_rollup(day=date(2026, 3, 5)) == 3

    assert rollup_rows(date(2026, 3, 5)) == {
        (alice.account.pk, key.pk, "gpt-4o"): (2, 1, 110, 20, 50, 5, 1_000),
        (alice.account.pk, other.pk, "gpt-4o-mini"): (1, 0, 100, 20, 50, 5, 7),
        (bob.account.pk, None, "gpt-4o"): (1, 1, 0, 0, 0, 0, 0),
    }


def test_rollup_counts_only_its_own_day(alice):
    record(alice.account, at(4, 23, 59, 59))
    record(alice.account, at(5, 0))
    record(alice.account, at(5, 23, 59, 59))
    record(alice.account, at(6, 0))

    usage_rollup(day=date(2026, 3, 5))

    assert [r.requests for r in UsageRollup.objects.all()] == [2]


def test_rollup_days_follow_the_configured_time_zone(alice, settings):
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8: 17:00 UTC on the 4th is 01:00 on the 5th
    record(alice.account, at(4, 17))
    record(alice.account, at(4, 15, 59))

    usage_rollup(day=date(2026, 3, 5))

    assert [r.requests for r in UsageRollup.objects.all()] == [1]


def test_rerunning_a_rollup_gives_the_same_rows_and_follows_new_usage(alice):
    key = ApiKey.objects.get(account=alice.account)
    record(alice.account, at(5, 9), key=key)
    usage_rollup(day=date(2026, 3, 5))
    first = rollup_rows(date(2026, 3, 5))

    usage_rollup(day=date(2026, 3, 5))
    assert rollup_rows(date(2026, 3, 5)) == first and UsageRollup.objects.count() == 1

    record(alice.account, at(5, 18), key=key, cost=500)
    record(alice.account, at(5, 18), key=None)
    usage_rollup(day=date(2026, 3, 5))
    rows = rollup_rows(date(2026, 3, 5))
    assert rows[(alice.account.pk, key.pk, "gpt-4o")][0::6] == (2, 1_500)
    assert rows[(alice.account.pk, None, "gpt-4o")][0] == 1


def test_rollup_of_a_day_without_usage_clears_it(alice):
    record(alice.account, at(5, 9))
    usage_rollup(day=date(2026, 3, 5))
    UsageRecord.objects.all().delete()

    assert usage_rollup(day=date(2026, 3, 5)) == 0
    assert not UsageRollup.objects.exists()


def test_rollup_task_recomputes_today_and_yesterday(alice):
    record(alice.account, at(4, 23, 30))
    record(alice.account, at(5, 0, 5))
    record(alice.account, at(3, 12))  # the day before yesterday: left alone

    with time_machine.travel(at(5, 0, 10), tick=False):
        assert tasks.rollup_usage() == {"2026-03-04": 1, "2026-03-05": 1}

    assert sorted(UsageRollup.objects.values_list("day", flat=True)) == [date(2026, 3, 4), date(2026, 3, 5)]


# --- low-balance alerts ----------------------------------------------------------------------------


@pytest.fixture
def low_default(settings):
    settings.HARNMODEL_LOW_BALANCE_DEFAULT = "10"
    settings.HARNMODEL_CURRENCY = "CNY"


def spend(account, micros: int) -> None:
    services.wallet_adjust(account_id=account.pk, amount_micros=-micros, reason="usage stand-in", actor="test")


def top_up(account, micros: int) -> None:
    services.wallet_credit(account_id=account.pk, amount_micros=micros, idempotency_key=f"t:{micros}:{next(_ids)}")


def test_low_balance_sends_one_email_per_crossing(alice, low_default, mailoutbox):
    assert alerts.low_balance_check() == {"sent": 0, "rearmed": 0, "failed": 0}  # ¥100: fine

    spend(alice.account, 95_000_000)  # ¥5 left
    assert alerts.low_balance_check()["sent"] == 1
    assert alerts.low_balance_check()["sent"] == 0  # still low: no second email
    spend(alice.account, 1_000_000)
    assert alerts.low_balance_check()["sent"] == 0

    (mail,) = mailoutbox
    assert mail.to == ["alice@example.com"]
    assert "¥5.00" in mail.subject and "¥10.00" in mail.body


def test_the_low_balance_email_never_shows_more_than_the_wallet_has(alice, low_default, mailoutbox):
    spend(alice.account, 95_000_001)  # ¥4.999999 left: a rounded ¥5.00 would promise more
    assert alerts.low_balance_check()["sent"] == 1
    (mail,) = mailoutbox
    assert "¥4.99" in mail.subject and "¥4.99" in mail.body and "¥5.00" not in mail.subject

    top_up(alice.account, 50_000_000)  # back above: re-armed, nothing sent
    assert alerts.low_balance_check() == {"sent": 0, "rearmed": 1, "failed": 0}
    assert Wallet.objects.get(account=alice.account).low_balance_alerted_at is None

    spend(alice.account, 50_000_000)  # the next crossing alerts again
    assert alerts.low_balance_check()["sent"] == 1
    assert len(mailoutbox) == 2


def test_a_wallet_threshold_overrides_the_default(alice, bob, low_default, mailoutbox):
    Wallet.objects.filter(account=alice.account).update(low_balance_threshold_micros=200_000_000)  # ¥200

    assert alerts.low_balance_check()["sent"] == 1
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]


def test_no_default_watches_only_wallets_with_their_own_threshold(alice, settings, mailoutbox):
    settings.HARNMODEL_LOW_BALANCE_DEFAULT = ""
    spend(alice.account, 99_000_000)

    assert alerts.low_balance_check()["sent"] == 0

    Wallet.objects.filter(account=alice.account).update(low_balance_threshold_micros=5_000_000)
    assert alerts.low_balance_check()["sent"] == 1 and len(mailoutbox) == 1


def test_a_never_funded_wallet_is_not_running_low(bob, low_default, mailoutbox):
    assert alerts.low_balance_check()["sent"] == 0
    assert not mailoutbox


def test_a_failed_email_is_retried_on_the_next_run(alice, low_default, mailoutbox, monkeypatch):
    spend(alice.account, 95_000_000)

    def broken(**kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(alerts, "send_mail", broken)
    assert alerts.low_balance_check() == {"sent": 0, "rearmed": 0, "failed": 1}
    assert Wallet.objects.get(account=alice.account).low_balance_alerted_at is None

    monkeypatch.undo()
    assert alerts.low_balance_check()["sent"] == 1 and len(mailoutbox) == 1


def test_low_balance_task_runs_the_check(alice, low_default, mailoutbox):
    spend(alice.account, 95_000_000)

    assert tasks.check_low_balances() == {"sent": 1, "rearmed": 0, "failed": 0}
    assert len(mailoutbox) == 1


def test_setting_a_threshold_re_arms_the_alert(alice, low_default, mailoutbox):
    spend(alice.account, 95_000_000)
    alerts.low_balance_check()

    alerts.wallet_low_balance_threshold_set(account_id=alice.account.pk, threshold_micros=8_000_000)
    assert alerts.low_balance_check()["sent"] == 1  # ¥5 is below the new ¥8 too: told again
    alerts.wallet_low_balance_threshold_set(account_id=alice.account.pk, threshold_micros=1_000_000)
    assert alerts.low_balance_check()["sent"] == 0

    assert len(mailoutbox) == 2
    with pytest.raises(ValueError):
        alerts.wallet_low_balance_threshold_set(account_id=alice.account.pk, threshold_micros=-1)
