"""Flexibility bought by the DSO (market-rules.md, "Flexibility"), as pure integer functions.

A request names a future slot, a direction (`reduce_import` or `reduce_export`), a quantity in
Wh and a maximum price in n€/Wh. Members offer a quantity at a price; offers at or below the
maximum are accepted in merit order (price ascending, then id) up to the requested quantity,
and each is paid its own price (pay-as-bid) for what it delivered. Delivery is measured against
a baseline: by default the member's mean net import in the same slot of day over its last 5 days
with readings (`MeanOfLastDays`; any `BaselineMethod` can replace it). Delivered Wh are clipped
to `[0, accepted]`; the member is paid `price * delivered` and pays
`penalty * (accepted - delivered)` for a shortfall.

Where the rulebook is silent (docs/decisions.md, "Flexibility"):

* Net import is signed: import minus export of all the member's meters in the slot.
* The baseline looks back at most `lookback_days` (10) days and takes the most recent `days` (5)
  on which the member had a reading in that slot of day; with fewer, the mean of those it has;
  with none, there is no baseline.
* The mean is rounded against the member's claim: down for `reduce_import` (delivered =
  baseline - metered), up for `reduce_export` (delivered = metered - baseline), so rounding
  never pays for a Wh that was not delivered.
* A delivery that cannot be measured (no baseline, or no reading in the delivered slot) is
  neither paid nor penalised; the outcome says `measured = False`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from market.units import NanoEur, Price, Wh

SECONDS_PER_DAY = 86_400
BASELINE_DAYS = 5
BASELINE_LOOKBACK_DAYS = 10


class Direction(IntEnum):
    """What the DSO asks for; the value is the on-chain enum."""

    REDUCE_IMPORT = 0
    REDUCE_EXPORT = 1


@dataclass(frozen=True, slots=True)
class FlexOffer:
    """An offer for a request: `id` orders equal prices (on-chain: the offer's index)."""

    id: int
    member: str
    quantity_wh: Wh
    price: Price


class FlexibilityError(ValueError):
    """Invalid input or an acceptance that breaks the rule; `name` is the contract's error."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


# --------------------------------------------------------------------------------- acceptance


def _merit_key(offer: FlexOffer) -> tuple[int, int]:
    return (offer.price, offer.id)


def accept(offers: Sequence[FlexOffer], quantity_wh: Wh, max_price: Price) -> tuple[Wh, ...]:
    """Accepted Wh per offer (aligned with `offers`): offers at or below `max_price` in merit
    order (price ascending, then id ascending), each fully until the quantity runs out; the
    last one accepted may be partial."""
    if quantity_wh <= 0:
        raise FlexibilityError("FlexibilityInvalidQuantity", f"quantity {quantity_wh} Wh")
    for offer in offers:
        if offer.quantity_wh <= 0:
            raise FlexibilityError("FlexibilityInvalidQuantity", f"offer {offer.id}")
        if offer.price < 0:
            raise FlexibilityError("FlexibilityInvalidPrice", f"offer {offer.id}")
    accepted = [0] * len(offers)
    left = quantity_wh
    order = sorted(range(len(offers)), key=lambda i: _merit_key(offers[i]))
    for i in order:
        if left == 0 or offers[i].price > max_price:
            break
        accepted[i] = min(left, offers[i].quantity_wh)
        left -= accepted[i]
    return tuple(accepted)


def verify_acceptance(
    offers: Sequence[FlexOffer], quantity_wh: Wh, max_price: Price, accepted: Sequence[Wh]
) -> None:
    """Check a submitted acceptance in one pass without sorting, as the contract does; raise
    `FlexibilityError` named like the contract's error. Passing means it equals `accept`:
    nothing over-accepted, nothing above the maximum, every offer that is not fully accepted is
    ahead (in merit order) of every offer that got anything after it, and the volume is
    `min(quantity, eligible Wh)`."""
    if len(accepted) != len(offers):
        raise FlexibilityError(
            "FlexibilityAcceptanceLength", f"{len(accepted)} for {len(offers)} offers"
        )
    total = 0
    eligible = 0
    marginal: tuple[int, int] | None = None  # best eligible offer not fully accepted
    for offer, acc in zip(offers, accepted, strict=True):
        if acc < 0 or acc > offer.quantity_wh:
            raise FlexibilityError("FlexibilityOverAccepted", f"offer {offer.id}: {acc} Wh")
        if offer.price > max_price:
            if acc != 0:
                raise FlexibilityError("FlexibilityAboveMaxPrice", f"offer {offer.id}")
            continue
        total += acc
        eligible += offer.quantity_wh
        if acc < offer.quantity_wh and (marginal is None or _merit_key(offer) < marginal):
            marginal = _merit_key(offer)
    if marginal is not None:
        for offer, acc in zip(offers, accepted, strict=True):
            if acc != 0 and offer.price <= max_price and _merit_key(offer) > marginal:
                raise FlexibilityError(
                    "FlexibilityNotMeritOrder", f"offer {offer.id} accepted behind {marginal}"
                )
    expected = min(quantity_wh, eligible)
    if total != expected:
        raise FlexibilityError("FlexibilityWrongVolume", f"{total} Wh accepted, rule {expected}")


# ----------------------------------------------------------------------------------- baseline


def floor_div(a: int, b: int) -> int:
    """a / b rounded down (Python's // already floors for negative a)."""
    return a // b


def ceil_div(a: int, b: int) -> int:
    """a / b rounded up."""
    return -((-a) // b)


class BaselineMethod(Protocol):
    """A baseline: from the member's net import in the same slot of day on the previous days
    (most recent first, `None` where it had no reading), the expected net import in Wh, or
    `None` when there is no baseline."""

    def __call__(self, history: Sequence[Wh | None], direction: Direction) -> Wh | None: ...


@dataclass(frozen=True, slots=True)
class MeanOfLastDays:
    """The default: mean of the `days` most recent days with a reading, among the last
    `lookback_days`; rounded against the member's claim (see the module docstring)."""

    days: int = BASELINE_DAYS
    lookback_days: int = BASELINE_LOOKBACK_DAYS

    def __call__(self, history: Sequence[Wh | None], direction: Direction) -> Wh | None:
        values = [v for v in history[: self.lookback_days] if v is not None][: self.days]
        if not values:
            return None
        if direction is Direction.REDUCE_IMPORT:
            return floor_div(sum(values), len(values))
        return ceil_div(sum(values), len(values))


DEFAULT_BASELINE = MeanOfLastDays()


def baseline_slots(
    slot: int, slot_seconds: int, lookback_days: int = BASELINE_LOOKBACK_DAYS
) -> list[int]:
    """The same slot of day on each of the previous `lookback_days` days, most recent first
    (slots before 0 do not exist and are left out)."""
    if slot_seconds <= 0 or SECONDS_PER_DAY % slot_seconds:
        raise FlexibilityError("FlexibilityInvalidCalendar", f"slot length {slot_seconds} s")
    per_day = SECONDS_PER_DAY // slot_seconds
    return [slot - d * per_day for d in range(1, lookback_days + 1) if slot - d * per_day >= 0]


# ----------------------------------------------------------------------------------- delivery


def delivered_wh(direction: Direction, baseline: Wh, metered: Wh, accepted: Wh) -> Wh:
    """Delivered Wh against the baseline (both as net import), clipped to [0, accepted]:
    `baseline - metered` for reduce_import, `metered - baseline` for reduce_export."""
    raw = baseline - metered if direction is Direction.REDUCE_IMPORT else metered - baseline
    return max(0, min(accepted, raw))


def flex_payment(price: Price, delivered: Wh) -> NanoEur:
    """Pay-as-bid: the offer's own price for each delivered Wh."""
    return price * delivered


def flex_penalty(penalty: Price, accepted: Wh, delivered: Wh) -> NanoEur:
    """The shortfall penalty: `penalty * (accepted - delivered)`."""
    return penalty * (accepted - delivered)


@dataclass(frozen=True, slots=True)
class FlexOutcome:
    """One accepted offer after delivery."""

    accepted_wh: Wh
    baseline_wh: Wh | None
    metered_wh: Wh | None
    delivered_wh: Wh
    payment: NanoEur
    penalty: NanoEur

    @property
    def measured(self) -> bool:
        return self.baseline_wh is not None and self.metered_wh is not None


def settle_offer(
    direction: Direction,
    accepted: Wh,
    price: Price,
    penalty: Price,
    metered: Wh | None,
    history: Sequence[Wh | None],
    method: BaselineMethod = DEFAULT_BASELINE,
) -> FlexOutcome:
    """Payment and penalty of one accepted offer, from its net import in the delivered slot
    (`None`: no reading) and its baseline history. Unmeasurable: neither paid nor penalised."""
    baseline = method(history, direction)
    if baseline is None or metered is None:
        return FlexOutcome(accepted, baseline, metered, 0, 0, 0)
    done = delivered_wh(direction, baseline, metered, accepted)
    return FlexOutcome(
        accepted,
        baseline,
        metered,
        done,
        flex_payment(price, done),
        flex_penalty(penalty, accepted, done),
    )
