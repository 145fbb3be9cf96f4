"""Units of the rulebook. Everything is an integer; there are no floats anywhere in `market`.

* Energy in Wh.
* Money in n€ (nano-euro), the prepaid token's base unit: 1 token = 1 EUR = 10**9 n€.
* Price in n€ per Wh, numerically the same as µ€ per kWh (0.25 €/kWh = 250000).

A payment for `q` Wh at price `p` is exactly `p * q` n€: no division, no rounding dust.
"""

from __future__ import annotations

from typing import TypeAlias, TypeGuard

Wh: TypeAlias = int
NanoEur: TypeAlias = int
Price: TypeAlias = int

TOKEN_DECIMALS = 9
NANO_PER_EUR: NanoEur = 10**TOKEN_DECIMALS


def is_int(value: object) -> TypeGuard[int]:
    """An integer amount: an int, but not a bool (an int subclass, but True Wh is a bug, not an
    amount)."""
    return isinstance(value, int) and not isinstance(value, bool)


def eur(amount: NanoEur) -> str:
    """Format n€ as an exact decimal euro string, for display only: 810000000 -> "0.810000000"."""
    whole, fraction = divmod(abs(amount), NANO_PER_EUR)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole}.{fraction:0{TOKEN_DECIMALS}d}"
