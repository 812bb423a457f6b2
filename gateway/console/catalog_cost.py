"""A channel's `cost:` in the catalog file: what the upstream charges us per 1M tokens, per public model.

    channels:
      - name: relay-a
        models: {gpt-4o: gpt-4o-2024-08-06}
        cost:
          gpt-4o: {input: "1.8", cached_input: "0.9", output: "7.2"}   # null: unknown (no margin shown)

Listed models get exactly this cost; models not listed keep theirs. The cost is read at settlement
(UsageRecord.upstream_cost_micros), so the margin report uses the cost in force when a request ran.
"""

from typing import Any

from billing.money import AmountError, parse_amount
from gateway.models import Channel, ChannelModel

PARTS = ("input", "cached_input", "output")
Cost = tuple[int, int, int] | None


def parse_cost(value: Any, where: str, errors: list[str]) -> dict[str, Cost]:
    if not isinstance(value, dict):
        errors.append(f"{where}: cost must be a mapping of public model id to {{input, cached_input, output}}")
        return {}
    costs: dict[str, Cost] = {}
    for model_id, price in value.items():
        if price is None:
            costs[str(model_id)] = None
            continue
        if not isinstance(price, dict) or set(price) != set(PARTS):
            errors.append(f"{where}: cost.{model_id} must have exactly {', '.join(PARTS)} (or be null)")
            continue
        micros = []
        for part in PARTS:
            amount = price[part]
            try:
                if isinstance(amount, bool) or not isinstance(amount, int | float | str):
                    raise AmountError("must be a number")
                micros.append(parse_amount(str(amount)))  # str() first: YAML 2.5 → Decimal("2.5"), exact
            except AmountError as exc:
                errors.append(f"{where}: cost.{model_id}.{part} {exc}")
        if len(micros) == 3:
            costs[str(model_id)] = (micros[0], micros[1], micros[2])
    return costs


def check_mapped(name: str, costs: dict[str, Cost], model_map: dict[str, str] | None, errors: list[str]) -> None:
    """A cost is for a model the channel serves: in the file's map, or (no map in the file) the stored one."""
    if model_map is not None:
        served = set(model_map)
    else:
        served = set(ChannelModel.objects.filter(channel__name=name).values_list("model__public_id", flat=True))
    for model_id in sorted(set(costs) - served):
        errors.append(f"channel {name}: cost.{model_id}: the channel does not serve this model")


def apply_cost(channel: Channel, costs: dict[str, Cost]) -> bool:
    """Write the listed costs onto the channel's model map; True when one changed."""
    changed = False
    for mapping in ChannelModel.objects.filter(channel=channel, model__public_id__in=list(costs)).select_related("model"):
        wanted = costs[mapping.model.public_id] or (None, None, None)
        stored = (mapping.cost_input_micros, mapping.cost_cached_input_micros, mapping.cost_output_micros)
        if stored != wanted:
            mapping.cost_input_micros, mapping.cost_cached_input_micros, mapping.cost_output_micros = wanted
            mapping.save(update_fields=["cost_input_micros", "cost_cached_input_micros", "cost_output_micros"])
            changed = True
    return changed
