"""Provision the rig's catalog and customers; write their keys and ids as JSON (the checks read it).

Three models on the mock (request.py: plain, slow, flaky), one channel each, one price. Customers, one
job each: `load` (funded; the load run), `kill` (funded; the host kill), `burst` (exactly AFFORD charges' worth),
`revoke` (its key is revoked by revoke.py), `breaker` (funded; trips the flaky channel).

usage: provision.py --mock http://10.77.0.1:18090 --afford 50 --out state.json
"""

import argparse
import json

import djangoenv  # noqa: F401  (Django set up before the project's imports)
import request
from django.db import transaction

from accounts.services import account_create
from billing.money import parse_amount
from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.services import price_publish, wallet_credit
from gateway.models import CatalogModel, Channel, ChannelModel
from gateway.services import api_key_create

FUNDS = parse_amount("1000000")
PATHS = {request.MODEL: "/v1", request.SLOW_MODEL: "/slow/v1", request.FLAKY_MODEL: "/flaky/v1"}


def cost_per_request() -> int:
    """What one answer of the mock costs at the rig's price: the charge the ledger must show per 200."""
    price = PriceSnapshot(None, parse_amount(request.PRICE_INPUT), parse_amount(request.PRICE_CACHED),
                          parse_amount(request.PRICE_OUTPUT))
    return charge_micros(Usage(input_tokens=request.INPUT_TOKENS, output_tokens=request.OUTPUT_TOKENS), price)


def _catalog(mock: str) -> dict[str, int]:
    channels = {}
    for public_id, path in PATHS.items():
        model, _ = CatalogModel.objects.get_or_create(public_id=public_id)
        price_publish(model_id=public_id, input_micros=parse_amount(request.PRICE_INPUT),
                      cached_input_micros=parse_amount(request.PRICE_CACHED),
                      output_micros=parse_amount(request.PRICE_OUTPUT))
        channel, _ = Channel.objects.update_or_create(
            name=public_id, defaults={"provider": "openai_responses", "base_url": mock + path, "enabled": True})
        ChannelModel.objects.get_or_create(channel=channel, model=model, defaults={"upstream_name": "gpt-4o"})
        channels[public_id] = channel.pk
    return channels


def _customer(name: str, funds: int) -> dict:
    account = account_create(email=f"mh-{name}@harnmodel.local")
    wallet_credit(account_id=account.pk, amount_micros=funds, idempotency_key=f"mh-{name}:funds",
                  note="multi-host rig", actor="bench")
    issued = api_key_create(account_id=account.pk, name=f"mh-{name}")
    return {"account_id": account.pk, "key": issued.secret, "key_id": issued.key.pk, "funds": funds}


@transaction.atomic
def provision(mock: str, afford: int) -> dict:
    cost = cost_per_request()
    return {
        "cost_micros": cost,
        "channels": _catalog(mock),
        "customers": {
            "load": _customer("load", FUNDS),
            "kill": _customer("kill", FUNDS),
            "burst": _customer("burst", afford * cost),
            "revoke": _customer("revoke", FUNDS),
            "breaker": _customer("breaker", FUNDS),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mock", required=True, help="the mock's base URL as the hosts reach it")
    parser.add_argument("--afford", type=int, default=50, help="charges the burst customer can pay")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = provision(args.mock, args.afford)
    with open(args.out, "w") as out:
        json.dump(state, out, indent=1)
    print(f"provisioned: one request costs {state['cost_micros']} micros; burst balance "
          f"{state['customers']['burst']['funds']} micros")


if __name__ == "__main__":
    main()
