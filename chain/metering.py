"""The imbalance settlement's words, commitments and audit digest, computed as the contracts do.

Pure: MeterReadings commits each slot's readings as a running hash of reading words, Settlement
commits its filled orders as a hash of trade words, and ImbalanceSettlement takes both lists back,
with the members that have readings, and extends the digest chain. The matcher builds its
submission here and the auditor recomputes the chain here, from events alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from chain.codec import MODE_CODES, BookEntry
from chain.events import checksum
from market.billing import Imbalance, bau_cost, imbalance
from market.tariff import Tariff

MAX_READING_WH = (1 << 40) - 1
_MASK48 = (1 << 48) - 1
_MASK40 = (1 << 40) - 1
_MASK160 = (1 << 160) - 1
ZERO_HASH = bytes(32)
# `slot_digest`'s fields as abi-encoded: previous link, slot, chunk, mode, price, volume, hashes.
_DIGEST_TYPES = ["bytes32", "uint64", "uint32", "uint8", "uint256", "uint256", *["bytes32"] * 3]


def pack_reading_word(member: str, import_wh: int, export_wh: int) -> int:
    """`uint160(member) | importWh << 160 | exportWh << 208` (IMeterReadings)."""
    if not (0 <= import_wh <= MAX_READING_WH and 0 <= export_wh <= MAX_READING_WH):
        raise ValueError(f"reading out of range: import {import_wh}, export {export_wh}")
    return int(member, 16) | (import_wh << 160) | (export_wh << 208)


def pack_trade_word(owner: str, filled_wh: int, side: str) -> int:
    """`uint160(owner) | filledWh << 160 | (sell ? 1 << 255 : 0)` (ISettlement.tradesOf)."""
    if not 0 < filled_wh <= _MASK40:
        raise ValueError(f"fill out of range: {filled_wh}")
    return int(owner, 16) | (filled_wh << 160) | ((1 << 255) if side == "sell" else 0)


def trade_words(entries: Sequence[BookEntry], fills: Sequence[int]) -> list[int]:
    """The trade words of a settled slot: its filled orders in book order."""
    return [pack_trade_word(e.owner, f, e.side) for e, f in zip(entries, fills, strict=True) if f]


def _word(w: int) -> bytes:
    return w.to_bytes(32, "big")


def readings_hash(words: Iterable[int]) -> bytes:
    """A slot's reading commitment: h = keccak256(h ‖ word), from h = 0, in acceptance order."""
    h = ZERO_HASH
    for w in words:
        h = keccak(h + _word(w))
    return h


def trades_hash(words: Sequence[int]) -> bytes:
    """A slot's trade commitment: keccak256 of the packed trade words."""
    return keccak(b"".join(_word(w) for w in words))


@dataclass(frozen=True, slots=True)
class Position:
    """One member's slot: metered Wh from its readings, traded Wh from its fills."""

    member: str
    import_wh: int = 0
    export_wh: int = 0
    sold_wh: int = 0
    bought_wh: int = 0

    @property
    def metered_net_export_wh(self) -> int:
        return self.export_wh - self.import_wh

    @property
    def traded_net_sold_wh(self) -> int:
        return self.sold_wh - self.bought_wh


def word_member(word: int) -> str:
    """The member (checksummed address) a reading or trade word belongs to."""
    return checksum(f"0x{word & _MASK160:040x}")


def word_flows(word: int) -> tuple[int, int]:
    """A reading word's import and export (Wh)."""
    return (word >> 160) & _MASK48, (word >> 208) & _MASK48


def positions(reading_words: Sequence[int], trade_words: Sequence[int]) -> list[Position]:
    """Aggregate per member with at least one reading, ascending by address (as the contract
    requires). Trades of members without a reading are left out: they have no imbalance."""
    acc: dict[int, list[int]] = {}
    for w in reading_words:
        p = acc.setdefault(w & _MASK160, [0, 0, 0, 0])
        imp, exp = word_flows(w)
        p[0] += imp
        p[1] += exp
    for w in trade_words:
        found = acc.get(w & _MASK160)
        if found is not None:
            found[2 if w >> 255 else 3] += (w >> 160) & _MASK40
    return [Position(word_member(a), *p) for a, p in sorted(acc.items())]


@dataclass(frozen=True, slots=True)
class ImbalanceEntry:
    """One (slot, chunk) to settle against the meters: its members with readings (ascending),
    its reading words in acceptance order and the slot's trade words (IImbalanceSettlement)."""

    slot: int
    chunk: int
    members: tuple[str, ...]
    reading_words: tuple[int, ...]
    trade_words: tuple[int, ...]

    @classmethod
    def of(
        cls, slot: int, chunk: int, reading_words: Sequence[int], trades: Sequence[int]
    ) -> ImbalanceEntry:
        """The entry of `chunk`'s reading words in `slot`, its members derived from them."""
        members = tuple(p.member for p in positions(reading_words, trades))
        return cls(slot, chunk, members, tuple(reading_words), tuple(trades))


@dataclass(frozen=True, slots=True)
class MemberImbalance:
    """What ImbalanceSettlement emits for one member (ImbalanceSettled), before collection."""

    position: Position
    imbalance: Imbalance
    bau_cost: int

    @property
    def charge(self) -> int:
        return self.imbalance.energy_charge + self.imbalance.network_charge


def settle_positions(tariff: Tariff, slot_positions: Iterable[Position]) -> list[MemberImbalance]:
    """The rulebook's settlement against meters for each position (market.billing)."""
    return [
        MemberImbalance(
            p,
            imbalance(tariff, p.metered_net_export_wh, p.traded_net_sold_wh),
            bau_cost(tariff, p.metered_net_export_wh),
        )
        for p in slot_positions
    ]


def imbalance_link(previous: bytes, settled: MemberImbalance, collected: int) -> bytes:
    """One step of a slot's imbalance hash, over one ImbalanceSettled event."""
    p, d = settled.position, settled.imbalance
    return keccak(
        encode(
            [
                "bytes32",
                "address",
                "uint256",
                "uint256",
                "int256",
                "uint256",
                "uint256",
                "uint256",
                "uint256",
            ],
            [
                previous,
                p.member,
                p.import_wh,
                p.export_wh,
                p.traded_net_sold_wh,
                d.credit,
                d.energy_charge,
                d.network_charge,
                collected,
            ],
        )
    )


def slot_digest(
    previous: bytes,
    slot: int,
    chunk: int,
    mode: str,
    price: int,
    volume_wh: int,
    trades: bytes,
    readings: bytes,
    imbalance_hash: bytes,
) -> bytes:
    """The (slot, chunk)'s link of the chunk's audit chain (IImbalanceSettlement)."""
    return keccak(
        encode(
            _DIGEST_TYPES,
            [
                previous,
                slot,
                chunk,
                MODE_CODES[mode],
                price,
                volume_wh,
                trades,
                readings,
                imbalance_hash,
            ],
        )
    )
