"""What was settled, read from the chain's events, as the statement of account takes it
(`market.statement`). Pure: the events come from the audit's reader (audit/fetch.py) or from the
event index (api/history.py), in any order; they are taken in chain order here.

An event is anything with the audit's `Event` attributes: `contract`, `name`, `args` (the ABI's
argument names, JSON-native values: ints, checksummed addresses, lists), `block`, `log_index`
and `tx`.

* A settled slot's book is its direct orders (OrderPlaced, in book order; cancelled ones as
  None) followed by the intents its SlotSettled event carried (decoded order words).
* Items that carry no slot (top-ups, redemptions, debt repaid, plain transfers, exits) belong to
  the slot last settled against meters before them in chain order (SlotDigest, or
  SharingSlotDigest in the `sharing` mode; slot 0 before the first).
* A plain transfer is a Transfer in a transaction with no other gridshare event: a battery
  result, anything members send each other (a battery lease is charged by the period's close,
  PeriodBilled).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.codec import MODE_NAMES, ROLE_CODES, decode_order_word, decode_rules
from chain.events import camel_case, event_record
from market.clearing import Mode
from market.orders import Order, Side
from market.records import field_names
from market.statement import (
    Accounts,
    ExitCharged,
    FlexDelivered,
    MeterSettled,
    MoveKind,
    PeriodBilled,
    Settled,
    SettledSlot,
    SharingSettledRow,
    TokenMove,
)
from market.tariff import SlotRules, Tariff

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DSO_ROLE = "0x" + keccak(text="DSO_ROLE").hex()
_MASK32 = (1 << 32) - 1
SHARING_FIGURES = tuple(camel_case(name) for name in field_names(SharingSettledRow)[2:])
"""SharingSettled's figures after (slot, member), in the event's (and SharingSettledRow's) order."""
# Events that make a transaction part of the market (its transfers are settled figures).
PLAIN = frozenset({"Transfer", "Approval"})


class ChainEvent(Protocol):
    @property
    def contract(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def args(self) -> Mapping[str, Any]: ...
    @property
    def block(self) -> int: ...
    @property
    def log_index(self) -> int: ...
    @property
    def tx(self) -> str: ...


@dataclass(frozen=True)
class SettledChain:
    settled: Settled
    accounts: Accounts
    schedule: tuple[tuple[int, SlotRules | None], ...]
    """The tariff schedule (TariffScheduled less TariffWithdrawn): (first slot, rules)."""

    def tariff_at(self, slot: int) -> Tariff:
        """The tariff in force for `slot`."""
        for start, rules in reversed(self.schedule):
            if start <= slot and rules is not None:
                return rules.tariff
            if start <= slot:
                break
        raise ValueError(f"no tariff in force for slot {slot}")


def unpack_pair(word: int) -> tuple[int, int, int]:
    """(buy position, sell position, Wh) of a packed pay-as-bid pair (`codec.pack_pair`)."""
    return word & _MASK32, (word >> 32) & _MASK32, word >> 64


def read_settled(events: Iterable[ChainEvent]) -> SettledChain:
    """Everything a statement reads, from the events (see the module's docstring)."""
    ordered = sorted(events, key=lambda e: (e.block, e.log_index))
    books: dict[int, list[Order | None]] = defaultdict(list)
    positions: dict[int, tuple[int, int]] = {}
    slots: list[SettledSlot] = []
    meters: list[MeterSettled] = []
    periods: list[PeriodBilled] = []
    flex: list[FlexDelivered] = []
    exits: list[ExitCharged] = []
    moves: list[TokenMove] = []
    shared: list[SharingSettledRow] = []
    request_slot: dict[int, int] = {}
    fee = network = supply = ZERO_ADDRESS
    dso: set[str] = set()
    roles: dict[str, int] = {}
    schedule: list[tuple[int, SlotRules | None]] = []
    current = 0  # the slot last settled against meters
    for _tx, group in groupby(ordered, key=lambda e: e.tx):
        tx = list(group)
        plain = all(e.name in PLAIN for e in tx)
        for e in tx:
            a = e.args
            match e.name:
                case "OrderPlaced":
                    slot = int(a["slot"])
                    order = Order(
                        int(a["id"]),
                        Side.SELL if int(a["side"]) == 1 else Side.BUY,
                        int(a["energyWh"]),
                        int(a["limitPrice"]),
                        a["owner"],
                    )
                    positions[order.id] = (slot, len(books[slot]))
                    books[slot].append(order)
                case "OrderCancelled":
                    where = positions.get(int(a["id"]))
                    if where is not None:
                        books[where[0]][where[1]] = None
                case "SlotSettled":
                    slot = int(a["slot"])
                    intents: list[Order | None] = []
                    for word, intent_id in zip(a["intentWords"], a["intentIds"], strict=True):
                        entry = decode_order_word(0, int(word))
                        intents.append(
                            Order(
                                int(intent_id),
                                Side(entry.side),
                                entry.energy_wh,
                                entry.price,
                                to_checksum_address(entry.owner),
                            )
                        )
                    slots.append(
                        SettledSlot(
                            slot,
                            Mode(MODE_NAMES[int(a["mode"])]),
                            int(a["price"]),
                            [*books.get(slot, []), *intents],
                            [int(f) for f in a["fills"]],
                            [unpack_pair(int(p)) for p in a["pairs"]],
                        )
                    )
                case "ImbalanceSettled":
                    meters.append(event_record(MeterSettled, a))
                case "SharingSettled":
                    shared.append(event_record(SharingSettledRow, a))
                case "SlotDigest" | "SharingSlotDigest":
                    current = int(a["slot"])
                case "PeriodBilled":
                    periods.append(event_record(PeriodBilled, a))
                case "FlexRequested":
                    request_slot[int(a["requestId"])] = int(a["slot"])
                case "FlexDelivered":
                    slot = request_slot.get(int(a["requestId"]), current)
                    flex.append(event_record(FlexDelivered, a, slot=slot))
                case "ExitRequested":
                    collected = int(a["penaltyCollected"])
                    exits.append(event_record(ExitCharged, a, slot=current, collected=collected))
                case "TopUp":
                    moves.append(
                        TokenMove(
                            current, MoveKind.TOP_UP, ZERO_ADDRESS, a["member"], int(a["amount"])
                        )
                    )
                case "Redeemed":
                    moves.append(
                        TokenMove(
                            current, MoveKind.REDEEMED, a["holder"], ZERO_ADDRESS, int(a["amount"])
                        )
                    )
                case "DebtRepaid":
                    moves.append(
                        TokenMove(
                            current,
                            MoveKind.DEBT_REPAID,
                            a["member"],
                            a["creditor"],
                            int(a["amount"]),
                        )
                    )
                case "Transfer" if plain:
                    moves.append(
                        TokenMove(current, MoveKind.TRANSFER, a["from"], a["to"], int(a["value"]))
                    )
                case "DsoAccountsSet":
                    fee, network = a["feeAccount"], a["networkAccount"]
                case "SupplyAccountSet":
                    supply = a["supplyAccount"]
                case "RoleGranted" if e.contract == "Community" and _is_dso(a["role"]):
                    dso.add(a["account"])
                case "RoleRevoked" if e.contract == "Community" and _is_dso(a["role"]):
                    dso.discard(a["account"])
                case "TariffScheduled":
                    try:
                        rules: SlotRules | None = decode_rules([int(v) for v in a["tariff"]])
                    except (ValueError, KeyError):  # an invalid tariff: the audit names it
                        rules = None
                    schedule.append((int(a["fromSlot"]), rules))
                case "TariffWithdrawn" if schedule and schedule[-1][0] == int(a["fromSlot"]):
                    schedule.pop()
                case "MemberRegistered" | "MemberRoleChanged":
                    roles[a["member"]] = int(a["role"])
    batteries = frozenset(m for m, r in roles.items() if r == ROLE_CODES["battery"])
    return SettledChain(
        Settled(slots, meters, periods, flex, exits, moves, shared),
        Accounts(fee, network, supply, frozenset(dso), batteries),
        tuple(schedule),
    )


def _is_dso(role: Any) -> bool:
    return str(role).lower() == DSO_ROLE
