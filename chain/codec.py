"""Pure encodings between rulebook values and the contracts' ABI / storage words.

Mirrors contracts/lib/OrderWord.sol and the `pairs` packing of ISettlement. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from market.tariff import SlotRules, Tariff

MODE_CODES: dict[str, int] = {"uniform": 0, "pay-as-bid": 1, "community": 2}
MODE_NAMES: dict[int, str] = {code: name for name, code in MODE_CODES.items()}
SIDE_CODES: dict[str, int] = {"buy": 0, "sell": 1}
ROLE_CODES: dict[str, int] = {"consumer": 1, "prosumer": 2, "prosumager": 3, "battery": 4}
ROLE_NAMES: dict[int, str] = {code: name for name, code in ROLE_CODES.items()}

_MASK40 = (1 << 40) - 1
_MASK32 = (1 << 32) - 1


def encode_rules(rules: SlotRules) -> tuple[int, ...]:
    """The contracts' `Tariff` struct (field order of contracts/lib/MarketTypes.sol)."""
    t = rules.tariff
    return (
        t.retail_price,
        t.feed_in_price,
        t.grid_fee,
        t.p2p_grid_fee,
        t.trade_fee_buy,
        t.trade_fee_sell,
        t.community_price,
        t.service_fee,
        MODE_CODES[rules.mode],
        t.sharing_price,
    )


def decode_rules(values: Sequence[int]) -> SlotRules:
    """Inverse of :func:`encode_rules`: what `Community.tariffAt(slot)` returns (a 9-field
    tariff recorded before `sharingPrice` existed reads it as the community price)."""
    ints = [int(v) for v in values]
    if len(ints) == 9:
        # Recorded before the tariff had a sharing price: it is the community price then.
        ints.append(ints[6])
    (retail, feed_in, grid, p2p, fee_buy, fee_sell, pc, service, mode, sharing) = ints
    tariff = Tariff(
        retail_price=retail,
        feed_in_price=feed_in,
        grid_fee=grid,
        p2p_grid_fee=p2p,
        trade_fee_buy=fee_buy,
        trade_fee_sell=fee_sell,
        service_fee=service,
        community_price=pc,
        sharing_price=sharing,
    )
    return SlotRules(tariff, MODE_NAMES[mode])


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
