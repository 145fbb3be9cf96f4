"""Pure encodings between rulebook values and the contracts' ABI / storage words.

Mirrors contracts/lib/OrderWord.sol and the `pairs` packing of ISettlement. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from market.tariff import RULE_FIELDS, SlotRules, Tariff

MODE_CODES: dict[str, int] = {"uniform": 0, "pay-as-bid": 1, "community": 2}
MODE_NAMES: dict[int, str] = {code: name for name, code in MODE_CODES.items()}
SIDE_CODES: dict[str, int] = {"buy": 0, "sell": 1}
ROLE_CODES: dict[str, int] = {"consumer": 1, "prosumer": 2, "prosumager": 3, "battery": 4}
ROLE_NAMES: dict[int, str] = {code: name for name, code in ROLE_CODES.items()}

_MASK40 = (1 << 40) - 1
_MASK32 = (1 << 32) - 1


def encode_rules(rules: SlotRules) -> tuple[int, ...]:
    """The contracts' `Tariff` struct, field by field as market.tariff declares them."""
    return tuple(
        MODE_CODES[rules.mode] if f.name == "mode" else getattr(rules.tariff, f.name)
        for f in RULE_FIELDS
    )


def decode_rules(values: Sequence[int]) -> SlotRules:
    """Inverse of :func:`encode_rules`: what `Community.tariffAt(slot)` returns (a tariff
    recorded before `sharingPrice`, the struct's last field, existed reads it as the community
    price: the Tariff's default)."""
    ints = [int(v) for v in values]
    if len(ints) not in (len(RULE_FIELDS), len(RULE_FIELDS) - 1):
        raise ValueError(f"a tariff has {len(RULE_FIELDS)} fields, got {len(ints)}")
    terms = {f.name: v for f, v in zip(RULE_FIELDS, ints, strict=False)}
    mode = MODE_NAMES[terms.pop("mode")]
    return SlotRules(Tariff(**terms), mode)


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One decoded order word of a slot's book (see OrderWord.sol)."""

    index: int
    owner: str
    side: str
    energy_wh: int
    price: int
    cancelled: bool


def decode_order_word(index: int, word: int) -> BookEntry:
    """Decode a packed order word."""
    return BookEntry(
        index=index,
        owner="0x" + format(word & ((1 << 160) - 1), "040x"),
        side="sell" if (word >> 240) & 1 else "buy",
        energy_wh=(word >> 160) & _MASK40,
        price=(word >> 200) & _MASK40,
        cancelled=bool((word >> 241) & 1),
    )


def pack_pair(buy_index: int, sell_index: int, energy_wh: int) -> int:
    """Pack a pay-as-bid pair of book indices as ISettlement expects."""
    if not (0 <= buy_index <= _MASK32 and 0 <= sell_index <= _MASK32 and energy_wh > 0):
        raise ValueError(f"pair out of range: {buy_index}, {sell_index}, {energy_wh}")
    return buy_index | (sell_index << 32) | (energy_wh << 64)


def pack_transfer(to: str, amount: int) -> int:
    """One EnergyToken.transferBatch entry: `uint160(to) | amount << 160` (amount < 2**96)."""
    if not 0 <= amount < 1 << 96:
        raise ValueError(f"transfer amount out of range: {amount}")
    return int(to, 16) | (amount << 160)
