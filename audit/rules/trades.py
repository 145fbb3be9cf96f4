"""Trades (Community's tariff schedule, OrderBook, Settlement): the tariff and clearing mode in
force for each slot (TariffScheduled / TariffWithdrawn); each slot's book, its direct orders
(OrderPlaced minus OrderCancelled, in book order; a standing order arrives as one OrderPlaced
per slot, exactly as the book stores it) followed by its intents (`audit.rules.intents`), its
escrow, and its clearing: `market.clearing.clear` on the open orders must give SlotSettled's
price, volume, fills and pay-as-bid pairs; fees, network charges, trade value and each account's
net payout in the settlement's transaction (direct orders out of escrow, intents from and to the
holder's balance through Settlement's pass-through, which keeps nothing) follow
`market.billing.settle_order`."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

from audit.model import Event
from audit.rules.core import ZERO_ADDRESS, BookOrder, SettledSlot
from audit.rules.intents import IntentRules
from chain.codec import MODE_NAMES, BookEntry, decode_rules
from chain.metering import trade_words
from chain.submission import SlotBook, to_submission
from market.billing import settle_order
from market.clearing import Mode, clear
from market.orders import InvalidOrderError, Order, Side
from market.tariff import InvalidTariffError, SlotRules

RULES: dict[str, str] = {
    "tariff": "every scheduled tariff is valid; a withdrawal removes the latest entry",
    "order": "orders are stored in book order, within the tariff's price bounds, once per id",
    "order-escrow": "a buy escrows energy x (limit + trade_fee_buy + p2p_grid_fee), a sell 0",
    "cancel-refund": "a cancellation refunds exactly the order's escrow, before settlement",
    "slot-escrow": "a slot's settlement releases exactly its open escrow",
    "slot-gap": "settled slots form a gap-free sequence, in order, each once: trades per slot, "
    "meters per chunk from the chunk's first slot",
    "slot-first": "trades settle from Settlement.firstSlot on",
    "clearing-mode": "a slot clears in the mode of the tariff in force for it",
    "clearing-price": "the clearing price is the rulebook's (market.clearing)",
    "clearing-volume": "the traded volume is the rulebook's (maximum volume at one price)",
    "clearing-fills": "each order's fill is the rulebook's",
    "clearing-pairs": "pay-as-bid pairs are the rulebook's walk",
    "trade-value": "the slot's trade value is the sum of the rulebook's fill amounts",
    "platform-fee": "platform fees are trade_fee_buy and trade_fee_sell per Wh filled",
    "network-fee": "network charges are p2p_grid_fee per Wh bought",
    "slot-payouts": "in the settlement's transaction each account nets the rulebook's amount: "
    "direct buyers their unused escrow, intent buyers minus p*q and the buy fees, sellers p*q "
    "less the fee, the DSO the fees; the order book pays out the slot's open escrow and "
    "Settlement, the intents' pass-through, nets zero",
}


class TradeRules(IntentRules):
    def on_TariffScheduled(self, e: Event) -> None:
        start = int(e.args["fromSlot"])
        try:
            rules: SlotRules | None = decode_rules([int(v) for v in e.args["tariff"]])
        except (InvalidTariffError, KeyError, ValueError) as exc:
            self.find(start, "tariff", f"tariff from slot {start} is invalid: {exc}")
            rules = None
        self.schedule.append((start, rules))

    def on_TariffWithdrawn(self, e: Event) -> None:
        start = int(e.args["fromSlot"])
        if not self.schedule or self.schedule[-1][0] != start:
            self.find(start, "tariff", f"withdrawn entry from slot {start} is not the latest")
            return
        self.schedule.pop()

    def on_OrderPlaced(self, e: Event) -> None:
        a = e.args
        slot, order_id, index = int(a["slot"]), int(a["id"]), int(a["index"])
        side = Side.SELL if int(a["side"]) == 1 else Side.BUY
        book = self.books[slot]
        order = BookOrder(
            order_id, a["owner"], side, int(a["energyWh"]), int(a["limitPrice"]), int(a["escrow"])
        )
        if index != len(book) or order_id in self.order_slot:
            self.find(slot, "order", f"order {order_id} at index {index} of a {len(book)}-book")
        if slot in self.settled:
            self.find(slot, "order", f"order {order_id} placed after the slot was settled")
        rules = self.rules_at(slot)
        if rules is not None:
            try:
                placed = Order(order_id, side, order.energy_wh, order.price, order.owner)
                rules.tariff.check_price_bounds(placed)
                escrow = rules.tariff.escrow_for(placed)
                if escrow != order.escrow:
                    self.find(
                        slot,
                        "order-escrow",
                        f"order {order_id} escrowed {order.escrow}, not {escrow}",
                    )
            except InvalidOrderError as exc:
                self.find(slot, "order", str(exc))
        self.order_slot[order_id] = (slot, len(book))
        book.append(order)
        self.open_escrow[slot] += order.escrow

    def on_OrderCancelled(self, e: Event) -> None:
        order_id, refund = int(e.args["id"]), int(e.args["refund"])
        where = self.order_slot.get(order_id)
        if where is None:
            self.find(None, "order", f"cancelled order {order_id} was never placed")
            return
        slot, index = where
        order = self.books[slot][index]
        if order.cancelled or slot in self.settled:
            self.find(
                slot, "cancel-refund", f"order {order_id} cancelled twice or after settlement"
            )
        if refund != order.escrow:
            self.find(
                slot, "cancel-refund", f"order {order_id} refunded {refund} of {order.escrow}"
            )
        order.cancelled = True
        self.open_escrow[slot] -= refund

    def on_SlotClosed(self, e: Event) -> None:
        slot, released = int(e.args["slot"]), int(e.args["escrowReleased"])
        if released != self.open_escrow[slot]:
            self.find(
                slot, "slot-escrow", f"released {released}, open escrow {self.open_escrow[slot]}"
            )
        self.open_escrow[slot] -= released

    def on_SlotSettled(self, e: Event) -> None:
        a = e.args
        slot = int(a["slot"])
        fills = [int(f) for f in a["fills"]]
        if slot in self.settled:
            self.find(slot, "slot-gap", "settled twice")
        elif self.settled and slot < max(self.settled):
            self.find(slot, "slot-gap", f"settled after slot {max(self.settled)} (out of order)")
        rules = self.rules_at(slot)
        mode_name = MODE_NAMES.get(int(a["mode"]), str(a["mode"]))
        direct = self.books[slot]
        book = direct + self._intents(slot, e, rules)
        entries = tuple(
            BookEntry(i, o.owner, o.side.value, o.energy_wh, o.price, o.cancelled)
            for i, o in enumerate(book)
        )
        words: list[int] = []
        try:
            words = trade_words(entries, fills)
        except ValueError as exc:
            self.find(slot, "clearing-fills", f"fills do not fit the book: {exc}")
        self.settled[slot] = SettledSlot(
            mode_name, int(a["price"]), int(a["volumeWh"]), words, int(a["platformFees"])
        )
        if rules is None:
            self.find(slot, "tariff", "no valid tariff in force")
            return
        if mode_name != rules.mode:
            self.find(
                slot, "clearing-mode", f"settled as {mode_name}, the tariff says {rules.mode}"
            )
        mode = Mode(rules.mode)
        pc = rules.tariff.community_price if mode is Mode.COMMUNITY else None
        try:
            open_orders = {
                o.id: Order(o.id, o.side, o.energy_wh, o.price, o.owner)
                for o in book
                if not o.cancelled
            }
            clearing = clear(open_orders.values(), mode, pc)
        except ValueError as exc:  # InvalidOrderError: a book the contracts could not hold
            self.find(slot, "order", f"the book cannot be cleared: {exc}")
            return
        expected = to_submission(SlotBook(entries, tuple(o.id for o in book)), clearing)
        self._compare(slot, "clearing-price", int(a["price"]), expected.price)
        self._compare(slot, "clearing-volume", int(a["volumeWh"]), clearing.volume_wh)
        if fills != expected.fills:
            diff = [
                f"#{i}: {f} not {x}"
                for i, (f, x) in enumerate(zip(fills, expected.fills, strict=False))
                if f != x
            ]
            if len(fills) != len(expected.fills):
                diff.insert(0, f"{len(fills)} fills for {len(expected.fills)} orders")
            self.find(slot, "clearing-fills", "; ".join(diff[:5]))
        self._compare(slot, "clearing-pairs", [int(p) for p in a["pairs"]], expected.pairs)

        # Money: the rulebook's settlement of each open order under the slot's tariff. A direct
        # order settles out of its escrow (a buy gets back what it did not spend); an intent
        # from and to its holder's balance (a buy pays p*q and the buy fees).
        intent_ids = {o.id for o in book[len(direct) :]}
        payouts: dict[str, int] = defaultdict(int)
        costs: dict[str, int] = defaultdict(int)
        trade_value = platform = network = escrow = 0
        for order_id, order in open_orders.items():
            try:
                settled = settle_order(rules.tariff, order, clearing.fills[order_id])
            except ValueError as exc:  # outside the tariff's bounds (found when placed)
                self.find(slot, "order", f"order {order_id} cannot be settled: {exc}")
                return
            if order_id in intent_ids and order.side is Side.BUY:
                payouts[order.owner] -= settled.paid_by_member
                costs[order.owner] += settled.paid_by_member
            else:
                payouts[order.owner] += settled.received_by_member
                escrow += settled.escrow
            platform += settled.platform_fee
            network += settled.network_fee
            if order.side is Side.SELL:
                trade_value += settled.amount
        payouts[self.fee_account] += platform
        payouts[self.network_account] += network
        payouts[self.address("OrderBook")] -= escrow
        self._compare(slot, "trade-value", int(a["tradeValue"]), trade_value)
        self._compare(slot, "platform-fee", int(a["platformFees"]), platform)
        self._compare(slot, "network-fee", int(a["networkFees"]), network)
        self._check_cover(slot, e, costs)
        want = {k: v for k, v in payouts.items() if v}
        got = {k: v for k, v in self.tx_net().items() if v and k != ZERO_ADDRESS}
        if got != want:
            diff = [
                f"{who}: {got.get(who, 0)} not {want.get(who, 0)}"
                for who in sorted(set(got) | set(want))
                if got.get(who, 0) != want.get(who, 0)
            ]
            self.find(slot, "slot-payouts", "; ".join(diff[:5]))

    def _compare(self, slot: int, rule: str, got: Any, want: Any) -> None:
        if got != want:
            self.find(slot, rule, f"chain has {got}, the rulebook gives {want}")

    def check_settled_sequence(self) -> None:
        """Trades settle from Settlement.firstSlot on, each slot after the one before."""
        st = self.state
        settled = sorted(self.settled)
        if settled and settled[0] != st.trade_first_slot:
            self.find(
                settled[0],
                "slot-first",
                f"trades settled from slot {settled[0]}, Settlement.firstSlot is "
                f"{st.trade_first_slot}",
            )
        for before, after in pairwise(settled):
            if after != before + 1:
                self.find(after, "slot-gap", f"trades settled after slot {before}, skipping")
