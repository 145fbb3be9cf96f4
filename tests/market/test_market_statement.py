"""The statement of account (market/statement.py): a small settled case against its golden file
(tests/market/golden/statement.small.json; regenerate with `python -m test_market_statement`
from tests/market after a deliberate change), pay-as-bid amounts from the pairs, and the range
rules for periods and for items without a slot."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from market_reference import TARIFF

from market.clearing import Mode
from market.orders import Order, Side
from market.statement import (
    LINES,
    Accounts,
    ExitCharged,
    FlexDelivered,
    MeterSettled,
    MoveKind,
    PeriodBilled,
    Settled,
    SettledSlot,
    TokenMove,
    dso_statement,
    member_statement,
    settled_fills,
)
from market.tariff import Tariff

GOLDEN = Path(__file__).parent / "golden" / "statement.small.json"
A, B, BAT = "0xaaaa", "0xbbbb", "0xba77"
FEE, NET, SUPPLY, DSO, ZERO = "0xfee0", "0x2e70", "0x5000", "0xd500", "0x0000"
ACCOUNTS = Accounts(FEE, NET, SUPPLY, frozenset({DSO}), frozenset({BAT}))
PRICE = TARIFF.feed_in_price + 20_000


@dataclass(frozen=True)
class Books:
    """What a statement reads (market.statement.Books): `settled` under one tariff."""

    settled: Settled
    accounts: Accounts = ACCOUNTS

    def tariff_at(self, slot: int) -> Tariff:
        return TARIFF


def small() -> Settled:
    """Two slots of a 4-slot period: A sells 300 Wh to B in slot 0 (B's second order was
    cancelled), B buys from the battery in slot 1; meters, a period close, flexibility, an exit
    penalty and the token movements outside the market."""
    book0 = [
        Order(1, Side.SELL, 500, TARIFF.feed_in_price, A),
        Order(2, Side.BUY, 300, PRICE + 10_000, B),
        None,
    ]
    book1 = [Order(4, Side.SELL, 200, PRICE, BAT), Order(5, Side.BUY, 200, PRICE, B)]
    return Settled(
        slots=[
            SettledSlot(0, Mode.UNIFORM, PRICE, book0, [300, 300, 0]),
            SettledSlot(1, Mode.UNIFORM, PRICE, book1, [200, 200]),
        ],
        meters=[
            MeterSettled(0, A, 0, 400, 300, 100 * TARIFF.feed_in_price, 0, 0, 0, -400 * 1),
            MeterSettled(
                0, B, 500, 0, -300, 0, 200 * TARIFF.retail_price, 200 * TARIFF.grid_fee, 10, 9
            ),
        ],
        periods=[
            # A leases a part of the battery: charged with its service fee, both covered.
            PeriodBilled(0, A, 400, 7_000, TARIFF.service_fee, 30_000, TARIFF.service_fee + 30_000),
            PeriodBilled(0, B, 0, 0, TARIFF.service_fee, 0, 0),
        ],
        flex=[FlexDelivered(1, A, 50_000, 0, 0), FlexDelivered(1, B, 0, 20_000, 20_000)],
        exits=[ExitCharged(3, B, 1_000_000, 400_000)],
        moves=[
            TokenMove(0, MoveKind.TOP_UP, ZERO, A, 10**9),
            TokenMove(0, MoveKind.TOP_UP, ZERO, B, 10**9),
            TokenMove(3, MoveKind.TRANSFER, BAT, A, 12_000),  # the battery's result to A
            TokenMove(3, MoveKind.TRANSFER, B, A, 5),  # a gift
            TokenMove(3, MoveKind.DEBT_REPAID, B, SUPPLY, 100),
            TokenMove(4, MoveKind.REDEEMED, A, ZERO, 1),  # next period
        ],
    )


def figures() -> dict[str, dict[str, int]]:
    settled = small()
    out = {m: member_statement(m, Books(settled), 4, 0, 3).as_dict() for m in (A, B)}
    out["dso"] = dso_statement(Books(settled), 4, 0, 3).as_dict()
    return out


def test_small_case_matches_the_golden_file() -> None:
    assert figures() == json.loads(GOLDEN.read_text())


def test_every_line_is_named_and_explained_and_adds_up() -> None:
    st = member_statement(A, Books(small()), 4, 0, 3)
    assert all(x.label == LINES[x.key][0] and x.explanation for x in st.lines)
    assert st["net_cost"] == sum(x.amount for x in st.lines if x.part == "cost")
    assert st["savings"] == st["bau_cost"] - st["net_cost"]
    assert st["battery_lease"] == 30_000 and st["battery_result"] == -12_000
    assert st["transfers"] == 5 and st["redeemed"] == 0  # the redemption is in slot 4
    assert [s.slot for s in st.slots] == [0]


def test_the_period_counts_in_the_range_of_its_last_slot() -> None:
    first_half = member_statement(A, Books(small()), 4, 0, 1)
    assert first_half["service_fee"] == 0 and first_half["profit_share"] == 0
    whole = member_statement(A, Books(small()), 4, 0, 3)
    assert whole["service_fee"] == TARIFF.service_fee and whole["profit_share"] == -7_000


def test_pay_as_bid_amounts_come_from_the_pairs() -> None:
    book = [
        Order(1, Side.BUY, 100, 300_000, B),
        Order(2, Side.BUY, 100, 250_000, B),
        Order(3, Side.SELL, 200, 100_000, A),
    ]
    fills = settled_fills(
        SettledSlot(0, Mode.PAY_AS_BID, 0, book, [100, 100, 200], [(0, 2, 100), (1, 2, 100)])
    )
    assert fills[0].amount == 30_000_000 and fills[1].amount == 25_000_000
    assert fills[2].amount == 55_000_000


if __name__ == "__main__":  # regenerate the golden file
    GOLDEN.write_text(json.dumps(figures(), indent=1, sort_keys=True) + "\n")
    sys.exit(0)
