"""Which of a slot's signed intents the matcher carries into its settlement (market-rules.md,
"Orders"). Pure: the caller reads each holder's state from the chain and passes it in.

An intent the settlement contract would refuse must not go into the batch (one bad intent would
revert the whole slot), so the matcher leaves out, with a reason the member can see:
- intents signed under an epoch that is no longer the member's (revoked);
- intents of non-members, sells of consumers, terms outside the tariff's bounds or below the
  minimum energy, and intents whose deadline passes before the settlement can be mined;
- beyond the per-member cap (direct orders of the slot count first), highest id first;
- a member's buy intents its balance (less its debt) cannot cover at their limits (energy at the
  limit price plus the buy-side fees), highest id first;
- beyond the slot's cap on carried intents, highest id first.
What remains is valid by construction; the contract still re-checks all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from market.tariff import Tariff

CONSUMER = 1
NONE = 0

# An intent whose deadline passes before the settlement is mined would revert the whole slot:
# the matcher keeps only those valid this long after the latest block, and the API accepts only
# those valid this long after their slot's gate closure.
DEADLINE_MARGIN_SECONDS = 60


class LeftOut(StrEnum):
    """Why an intent was not carried into its slot's settlement."""

    REVOKED = "revoked"
    NOT_MEMBER = "not_member"
    ROLE_CANNOT_SELL = "role_cannot_sell"
    PRICE_OUT_OF_BOUNDS = "price_out_of_bounds"
    ENERGY_TOO_SMALL = "energy_too_small"
    EXPIRED = "expired"
    MEMBER_CAP = "member_cap"
    UNCOVERED = "uncovered"
    SLOT_FULL = "slot_full"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pending intent's terms as the selection needs them."""

    id: int
    owner: str  # lowercase hex address
    side: str  # "buy" | "sell"
    energy_wh: int
    limit_price: int
    epoch: int
    deadline: int


@dataclass(frozen=True, slots=True)
class Holder:
    """A member's state on-chain when the slot is settled."""

    role: int  # MemberRole: 0 none, 1 consumer, ...
    epoch: int
    spendable: int  # balance less debt, n€


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds the contract applies to a slot's intents."""

    min_order_wh: int
    max_per_member: int
    max_intents: int
    not_before: int  # a deadline before this (the settlement's earliest mining time) expires


@dataclass(frozen=True, slots=True)
class Selection:
    """The intents to carry (ascending id) and, for the rest, why not."""

    kept: tuple[Candidate, ...]
    left_out: Mapping[int, LeftOut]


def _screen(c: Candidate, h: Holder, tariff: Tariff, limits: Limits) -> LeftOut | None:
    if h.role == NONE:
        return LeftOut.NOT_MEMBER
    if c.epoch != h.epoch:
        return LeftOut.REVOKED
    if c.side == "sell" and h.role == CONSUMER:
        return LeftOut.ROLE_CANNOT_SELL
    if not tariff.price_in_bounds(c.limit_price):
        return LeftOut.PRICE_OUT_OF_BOUNDS
    if c.energy_wh < limits.min_order_wh:
        return LeftOut.ENERGY_TOO_SMALL
    if c.deadline < limits.not_before:
        return LeftOut.EXPIRED
    return None


def select_intents(
    candidates: Sequence[Candidate],
    holders: Mapping[str, Holder],
    tariff: Tariff,
    limits: Limits,
    direct_orders: Mapping[str, int],
) -> Selection:
    """Apply the rules above in their order; `direct_orders` counts each member's direct orders
    in the slot (they come first under the per-member cap)."""
    left: dict[int, LeftOut] = {}
    screened: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: c.id):
        reason = _screen(c, holders[c.owner], tariff, limits)
        if reason is None:
            screened.append(c)
        else:
            left[c.id] = reason
    per_member: dict[str, list[Candidate]] = {}
    for c in screened:
        per_member.setdefault(c.owner, []).append(c)
    kept: list[Candidate] = []
    rate = tariff.buy_fee_rate
    for owner, mine in per_member.items():
        room = max(limits.max_per_member - direct_orders.get(owner, 0), 0)
        for c in mine[room:]:
            left[c.id] = LeftOut.MEMBER_CAP
        mine = mine[:room]
        cost = sum((c.limit_price + rate) * c.energy_wh for c in mine if c.side == "buy")
        available = holders[owner].spendable
        for c in reversed(mine):  # highest id first
            if cost <= available:
                break
            if c.side == "buy":
                cost -= (c.limit_price + rate) * c.energy_wh
                left[c.id] = LeftOut.UNCOVERED
        kept.extend(c for c in mine if c.id not in left)
    kept.sort(key=lambda c: c.id)
    for c in kept[limits.max_intents :]:
        left[c.id] = LeftOut.SLOT_FULL
    return Selection(tuple(kept[: limits.max_intents]), left)
