"""Flexibility's words and submissions, between the rulebook (market/flexibility.py) and the
Flexibility contract. Pure: the matcher builds its acceptance and settlement here, the audit and
the API recompute payments here, and tests use it to build tampered submissions. What a member
signs for a relayed offer (`Flexibility.offerWithSig`) is `chain.signing.FlexOfferIntent` /
`flex_offer_typed_data`, next to the other EIP-712 intents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from market.flexibility import (
    BaselineMethod,
    Direction,
    FlexOffer,
    FlexOutcome,
    MeanOfLastDays,
    accept,
    settle_offer,
)

_MASK40 = (1 << 40) - 1
_MASK48 = (1 << 48) - 1
_MASK160 = (1 << 160) - 1

OPEN, ACCEPTED, SETTLED = 0, 1, 2


def pack_offer_word(member: str, quantity_wh: int, price: int) -> int:
    """`uint160(member) | quantityWh << 160 | price << 200` (IFlexibility.offersOf)."""
    return int(member, 16) | (quantity_wh << 160) | (price << 200)


def decode_offers(words: Sequence[int]) -> list[FlexOffer]:
    """The request's offers as the rulebook sees them; the id is the offer's index."""
    return [
        FlexOffer(
            i,
            to_checksum_address((w & _MASK160).to_bytes(20, "big")),
            (w >> 160) & _MASK40,
            (w >> 200) & _MASK40,
        )
        for i, w in enumerate(int(x) for x in words)
    ]


@dataclass(frozen=True, slots=True)
class FlexRequest:
    """A request as `Flexibility.requestOf` returns it."""

    request_id: int
    slot: int
    direction: Direction
    quantity_wh: int
    max_price: int
    gate_closure: int
    penalty: int
    payer: str
    status: int

    @classmethod
    def from_call(cls, request_id: int, values: Sequence[object]) -> FlexRequest:
        slot, direction, quantity, max_price, gate, penalty, payer, status = values
        return cls(
            request_id,
            int(slot),  # type: ignore[call-overload]
            Direction(int(direction)),  # type: ignore[call-overload]
            int(quantity),  # type: ignore[call-overload]
            int(max_price),  # type: ignore[call-overload]
            int(gate),  # type: ignore[call-overload]
            int(penalty),  # type: ignore[call-overload]
            str(payer),
            int(status),  # type: ignore[call-overload]
        )

    @property
    def escrow(self) -> int:
        return self.quantity_wh * self.max_price


def acceptance(request: FlexRequest, offer_words: Sequence[int]) -> list[int]:
    """The rulebook's acceptance of the request's stored offers, aligned with them."""
    return list(accept(decode_offers(offer_words), request.quantity_wh, request.max_price))


def accepted_indexes(offers: Sequence[FlexOffer], accepted: Sequence[int]) -> list[int]:
    """Indexes of the offers with accepted Wh, ordered by member address ascending (what
    `settleRequest` takes as `offerIndexes`)."""
    chosen = [i for i, a in enumerate(accepted) if a]
    return sorted(chosen, key=lambda i: int(offers[i].member, 16))


def net_import(words: Sequence[int]) -> dict[str, int]:
    """Net import (import − export, Wh) per member over a slot's reading words (all its meters)."""
    out: dict[str, int] = {}
    for w in words:
        member = to_checksum_address((w & _MASK160).to_bytes(20, "big"))
        out[member] = out.get(member, 0) + ((w >> 160) & _MASK48) - ((w >> 208) & _MASK48)
    return out


def segment_slots(slot: int, slot_seconds: int, lookback_days: int) -> list[int | None]:
    """The slot, then the same slot of day 1..lookback_days days earlier (None before slot 0),
    in the order `settleRequest` takes their words."""
    per_day = 86_400 // slot_seconds
    return [
        slot - d * per_day if slot - d * per_day >= 0 else None for d in range(lookback_days + 1)
    ]


def settlement_words(
    slots: Sequence[int | None], words_of: Callable[[int], list[int]]
) -> tuple[list[int], list[int]]:
    """`words` and `counts` for `settleRequest`: each segment's reading words, concatenated."""
    words: list[int] = []
    counts: list[int] = []
    for s in slots:
        seg = [] if s is None else words_of(s)
        words.extend(seg)
        counts.append(len(seg))
    return words, counts


def outcomes(
    request: FlexRequest,
    offers: Sequence[FlexOffer],
    accepted: Sequence[int],
    segments: Sequence[Mapping[str, int]],
    method: BaselineMethod | None = None,
    baseline_days: int = 5,
    is_member: Callable[[str], bool] | None = None,
) -> dict[int, FlexOutcome]:
    """Each accepted offer's outcome (by offer index) from each segment's net import per member
    (segment 0: the slot; d: d days earlier), by the rulebook. An offer whose member is no longer
    a member when the request settles (`is_member` false) is neither paid nor penalised."""
    lookback = len(segments) - 1
    chosen = method or MeanOfLastDays(days=baseline_days, lookback_days=lookback)
    out: dict[int, FlexOutcome] = {}
    for i, acc in enumerate(accepted):
        if not acc:
            continue
        member = offers[i].member
        if is_member is not None and not is_member(member):
            out[i] = FlexOutcome(acc, None, None, 0, 0, 0)
            continue
        history = [seg.get(member) for seg in segments[1:]]
        out[i] = settle_offer(
            request.direction,
            acc,
            offers[i].price,
            request.penalty,
            segments[0].get(member),
            history,
            chosen,
        )
    return out
