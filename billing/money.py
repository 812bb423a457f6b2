"""Money helpers: integer micros in, integer micros out. The one rounding rule lives here."""

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings

MICROS_PER_UNIT = 1_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per one million tokens

_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}
_DECIMALS = {"JPY": 0}


class AmountError(ValueError):
    """An amount that cannot be money: not a number, negative where it may not be, too precise."""


def ceil_div(numerator: int, denominator: int) -> int:
    """The one rounding rule: a fraction of a micro is always rounded up, in the platform's favour
    by at most one micro per request, so that no usage is ever free."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("ceil_div takes a non-negative numerator and a positive denominator")
    return -(-numerator // denominator)


def parse_amount(text: str | int | Decimal, *, allow_negative: bool = False) -> int:
    """'12.5' (currency units) → 12_500_000 micros. Exact; refuses more than six decimals."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise AmountError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise AmountError(f"not an amount: {text!r}")
    micros = value * MICROS_PER_UNIT
    if micros != micros.to_integral_value():
        raise AmountError(f"more than six decimal places: {text!r}")
    if micros < 0 and not allow_negative:
        raise AmountError(f"negative amount: {text!r}")
    return int(micros)


def micros_to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_UNIT


def currency() -> str:
    return settings.HARNMODEL_CURRENCY


def format_amount(
    micros: int, currency_code: str | None = None, *, places: int | None = None, rounding: str = ROUND_HALF_UP
) -> str:
    """Human display: '¥12.50'. Display only; never parse this back."""
    code = currency_code or currency()
    digits = _DECIMALS.get(code, 2) if places is None else places
    quantum = Decimal(1).scaleb(-digits)
    amount = micros_to_decimal(micros).quantize(quantum, rounding=rounding)
    sign = "-" if amount < 0 else ""
    return f"{sign}{_SYMBOLS.get(code, code + ' ')}{abs(amount):,}"


def format_balance(micros: int, currency_code: str | None = None) -> str:
    """A balance or a remaining amount, for the customer: floored to the shown places, so it never
    shows more than the wallet has (¥24.999377 reads ¥24.99, not ¥25.00)."""
    return format_amount(micros, currency_code, rounding=ROUND_FLOOR)


def decimal_string(micros: int) -> str:
    """Machine display with full precision: '12.5', '0.000123'."""
    value = micros_to_decimal(micros).normalize()
    text = format(value, "f")
    return text


def format_exact(micros: int) -> str:
    """format_amount at full precision: a ¥0.075 price or a ¥0.000123 charge must not display as ¥0.08 / ¥0.00."""
    fraction = decimal_string(micros).partition(".")[2]
    return format_amount(micros, places=len(fraction) if len(fraction) > 2 else None)
