"""The one rule for usage above the hold: how much of a request's cost may be charged.

Holds reserve the worst case we can count, and streams are cut when the hold's output is used up, so
usage above the hold is rare: an upstream that ignored our output cap, or input we under-counted.
Then the real cost is charged up to the hold, plus what the wallet has free (not held for other
requests), plus `HARNMODEL_OVERDRAFT_LIMIT_MICROS`: the wallet may go below zero by at most that
limit, and a wallet below zero gets 402 for new requests until it is topped up. Anything beyond is
not charged; the usage record says `charge_capped` and the operators are alerted.

Only the locked settlement (holds/orm.py) can reach this case: the single statements (holds/sql.py)
settle only a cost within the hold, where this rule charges the cost as is, and hand every other case
to it.
"""

from dataclasses import dataclass

from django.conf import settings

DEFAULT_OVERDRAFT_LIMIT_MICROS = 100_000  # 0.1 of the platform currency


def overdraft_limit_micros() -> int:
    return max(0, int(getattr(settings, "HARNMODEL_OVERDRAFT_LIMIT_MICROS", DEFAULT_OVERDRAFT_LIMIT_MICROS)))


@dataclass(frozen=True, slots=True)
class Split:
    charged: int  # what the ledger row takes
    uncharged: int  # cost beyond hold + free balance + overdraft: recorded and alerted, not charged


def charge_split(*, cost: int, hold: int, balance: int, held: int, overdraft: int, limit: int | None = None
                 ) -> Split:
    """`hold`: this request's open hold (0 when it is no longer held, e.g. expired); `held`: the
    wallet's held total, this hold included. Never charges into other requests' holds beyond the
    overdraft, so the wallet ends no lower than -overdraft once every hold has settled. `limit`: the
    request's own cost ceiling (X-Max-Cost, gateway/relay/ceilings.py): nothing above it is ever charged."""
    others = held - hold
    ceiling = max(hold, balance - others + overdraft, 0)
    if limit is not None:
        ceiling = min(ceiling, limit)
    charged = min(max(cost, 0), ceiling)
    return Split(charged=charged, uncharged=max(cost, 0) - charged)


def alert_uncharged(*, request_id: str, account_id: int, cost: int, charged: int, hold: int) -> None:
    """Usage the wallet could not pay even with the overdraft: an operator decides (a misbehaving
    channel, a limit too low). Mailed after the settlement commits."""
    from .alerts import operator_alert
    from .money import decimal_string as format_amount  # exact, not rounded for display

    operator_alert(
        subject=f"Request {request_id} used more than its account could pay",
        message=(
            f"Request {request_id} (account {account_id}) cost {format_amount(cost)} at the customer's price; "
            f"its hold was {format_amount(hold)} and {format_amount(charged)} was charged, the wallet's balance "
            f"and the overdraft limit ({format_amount(overdraft_limit_micros())}) included. "
            f"{format_amount(cost - charged)} was not charged. Check the channel that served it: an upstream "
            "that ignores the output cap, or input far above what the hold counted."
        ),
    )
