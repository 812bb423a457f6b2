"""The one place rows are locked. Callers must be inside transaction.atomic.

Lock order, to keep deadlocks impossible: wallet first, then anything that belongs to it.
"""

from .models import Wallet


def lock_wallet(*, account_id: int | None = None, wallet_id: int | None = None) -> Wallet:
    query = Wallet.objects.select_for_update()
    if wallet_id is not None:
        return query.get(pk=wallet_id)
    return query.get(account_id=account_id)
