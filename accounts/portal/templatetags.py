"""Template filters for the portal (registered in settings TEMPLATES as the `portal` library)."""

from django import template

from billing.money import currency, format_amount, format_balance, format_exact

register = template.Library()


@register.filter
def money(micros: int | None) -> str:
    """¥12.50 — balances and totals."""
    return format_amount(micros or 0)


@register.filter
def balance(micros: int | None) -> str:
    """¥24.99 for 24.999377 — a balance never shows more than the wallet has."""
    return format_balance(micros or 0)


@register.filter
def money_exact(micros: int | None) -> str:
    """¥0.000123 — a single request's cost, a price: never rounded away."""
    return format_exact(micros or 0)


@register.filter
def money_total(micros: int | None) -> str:
    """A total: cents from one unit up (¥2.43), every digit below it (¥0.000123 must not read ¥0.00)."""
    micros = micros or 0
    return format_amount(micros) if abs(micros) >= 1_000_000 else format_exact(micros)


@register.simple_tag
def currency_code() -> str:
    return currency()


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key) if mapping else None
