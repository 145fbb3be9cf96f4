"""Gas of the order book's on-chain paths and of slots settled from it: `make bench-gas`
(`python -m bench.gas --record`).

Every step runs through the services' own code on a private chain (anvil by default, ganache with
`--node ganache`; the EVM and so the gas are the same): orders placed and cancelled through
chain/gateway.py (relayed ones signed by their members, EIP-712), slots cleared and settled by the
matcher service (`Matcher.run_once`), readings signed by each meter and relayed from the oracle's
account, the imbalance settled by the matcher.

Measures `gas_per_order_placed` and `gas_per_order_cancelled` (direct and relayed, i.e.
placeOrderWithSig / cancelOrderWithSig), `gas_per_member_slot_trades_settled` with 50, 200 and
1,000 members in one slot (one order each; half buy, half sell, prices that cross) against a plain
ERC-20 transfer as the naive per-trade baseline, and a metered run of 200 members (trades, reading
and imbalance per member-slot).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chainops import gas_by_function, metered_members, relay_signed, sign_readings
from bench.matcher import crossing_order, registered_members
from bench.report import show_and_record
from chain.devchain import (
    advance_past_reading_deadline,
    advance_to,
    close_gate,
    dev_accounts,
    dev_chain,
    dev_sender,
)
from chain.gateway import (
    CommunityGateway,
    EnergyTokenGateway,
    OrderBookGateway,
    PlacedOrders,
)
from chain.node import Node, Receipt, Sender
from chain.signing import (
    OrderIntent,
    Reading,
    cancel_typed_data,
    order_typed_data,
    sign_typed_data,
)
from gridshare.settings import Settings, load_settings
from matcher.service import Matcher, SlotResult

COMMAND = "make bench-gas  (python -m bench.gas --record)"
MEMBER_COUNTS = (50, 200, 1000)
METERED_MEMBERS = 200
READINGS_PER_TX = 100
DSO, MATCHER, NETWORK, RELAYER, FUNDER, EMPTY = 0, 2, 4, 5, 6, 7
ETHER = 10**18


@dataclass(frozen=True)
class Bench:
    """One deployment on its own private chain, with the accounts scripts/deploy.py assigns."""

    node: Node
    settings: Settings
    rng: random.Random

    def account(self, index: int) -> Sender:
        return dev_sender(self.node, index)

    @property
    def book(self) -> OrderBookGateway:
        return OrderBookGateway(self.node)

    def members(self, count: int, label: str) -> list[Any]:
        """`count` fresh prosumers, topped up, with keys for signing; they never hold ether."""
        return registered_members(self.node, count, self.rng, label)

    def relay_order(
        self, member: Any, slot: int, side: str, energy_wh: int, price: int, nonce: int
    ) -> PlacedOrders:
        """`member`'s order signed by it and placed by the relayer (placeOrderWithSig)."""
        book = self.book
        intent = OrderIntent(member.address, slot, slot, side, energy_wh, price, nonce, 2**40)
        data = order_typed_data(intent, self.node.manifest.chain_id, book.address)
        signature = sign_typed_data(data, member.key)
        return book.place_order_with_sig(intent, signature, sender=self.account(RELAYER))

    def relay_crossing_orders(self, members: Sequence[Any], slot: int, nonce: int) -> None:
        """One order of each member in `slot`: half buy, half sell, prices that cross."""
        for i, m in enumerate(members):
            side, energy_wh, price = crossing_order(i, self.rng, self.settings.tariff)
            self.relay_order(m, slot, side, energy_wh, price, nonce)

    def metered_members(self, count: int, label: str) -> list[tuple[Any, bytes]]:
        """`count` fresh members, each with a meter its key signs for: (member key, meter id)."""
        keys, meter_ids = metered_members(self.node, count, self.rng, label)
        return list(zip(keys, meter_ids, strict=True))

    def relay_readings(self, metered: Sequence[tuple[Any, bytes]], slot: int) -> None:
        """A reading of every meter for `slot`, each signed by its meter, relayed by the
        oracle's account READINGS_PER_TX at a time."""
        readings = []
        for key, meter_id in metered:
            imported, exported = self.rng.randint(0, 3_000), self.rng.randint(0, 3_000)
            readings.append((Reading(meter_id, slot, imported, exported, slot), key))
        relay_signed(self.node, sign_readings(self.node, readings), READINGS_PER_TX)

    def deliver(
        self, matcher: Matcher, metered: Sequence[tuple[Any, bytes]], slot: int
    ) -> dict[str, list[int]]:
        """Move time past `slot`'s delivery, relay every meter's reading of it and let the
        matcher settle what is due (the imbalance, then flexibility). Returns the gas of the
        calls mined meanwhile, by function."""
        advance_to(self.node, CommunityGateway(self.node).slot_start(slot + 1) + 1)
        start = self.node.block_number() + 1
        matcher.run_once()
        self.relay_readings(metered, slot)
        matcher.run_once()
        return gas_by_function(self.node, start)

    def settle(self, matcher: Matcher, slot: int) -> SlotResult:
        """Close `slot`'s gate and have the matcher settle it (and any earlier slot)."""
        close_gate(self.node, slot)
        results = {r.slot: r for r in matcher.run_once()}
        if slot not in results or results[slot].gas_used is None:
            raise RuntimeError(f"slot {slot} was not settled by this pass: {results}")
        return results[slot]


@contextmanager
def deployment(
    settings: Settings, node_kind: str, seed: int, env: Mapping[str, str] | None = None
) -> Iterator[Bench]:
    """A private chain with gridshare deployed (`env`: settings for the deployment)."""
    with tempfile.TemporaryDirectory() as tmp, dev_chain(Path(tmp), env, node_kind) as chain:
        node_settings = settings.model_copy(update={"deployments_dir": Path(tmp)})
        yield Bench(
            Node.from_settings(chain.network_id, node_settings), settings, random.Random(seed)
        )


def _order_id(bench: Bench, receipt: Receipt) -> int:
    """The id of the direct order `receipt` placed."""
    return int(bench.node.emitted(receipt, "OrderBook", "OrderPlaced")[0]["id"])


def order_figures(bench: Bench) -> dict[str, Any]:
    """Gas of placing and cancelling orders, direct and relayed, against an ERC-20 transfer:
    the 2nd..11th orders of a slot (the first pays for the slot's new storage)."""
    node, book = bench.node, bench.book
    members = bench.members(12, "bench-orders")
    slot = CommunityGateway(node).current_slot() + 2
    direct = Sender.from_key(members[0].key.hex())
    node.send_value(bench.account(FUNDER), direct.address, ETHER)
    bench.relay_order(members[1], slot, "sell", 1000, 100_000, nonce=0)
    direct_buys = [
        node.transact(book.place_order_call(slot, "buy", 1000, 150_000), direct) for _ in range(5)
    ]
    relayed = [
        bench.relay_order(members[2 + i], slot, "buy", 1000, 150_000, nonce=0) for i in range(10)
    ]
    sells = [
        book.place_order(slot, "sell", 1000, 100_000, sender=direct).gas_used for _ in range(5)
    ]
    token = EnergyTokenGateway(node)
    funded = members[3].address  # holds tokens: its balance goes non-zero to non-zero
    transfer = token.transfer(funded, 10**9, sender=direct).gas_used
    empty = dev_accounts(node)[EMPTY]
    transfer_fresh = token.transfer(empty, 10**9, sender=direct).gas_used
    # Cancelling buy orders (escrow refunded); the 5th direct order stays, so the slot's escrow
    # and the book's balance never reach zero (no storage refund in the figures).
    cancel_direct = [
        int(node.transact(book.cancel_order_call(_order_id(bench, r)), direct)["gasUsed"])
        for r in direct_buys[:4]
    ]
    cancel_relayed = []
    for i, placed in enumerate(relayed):
        owner, order_id = members[2 + i], placed.order_ids[0]
        typed = cancel_typed_data(
            owner.address, order_id, 1, 2**40, node.manifest.chain_id, book.address
        )
        signature = sign_typed_data(typed, owner.key)
        cancelled = book.cancel_order_with_sig(
            owner.address, order_id, 1, 2**40, signature, sender=bench.account(RELAYER)
        )
        cancel_relayed.append(cancelled.gas_used)

    def mean(values: Sequence[Any]) -> int:
        return sum(int(v) for v in values) // len(values)

    return {
        "gas_per_order_cancelled_direct_buy": mean(cancel_direct),
        "gas_per_order_cancelled_relayed_buy": mean(cancel_relayed),
        "gas_per_order_placed_direct_buy": mean([r["gasUsed"] for r in direct_buys]),
        "gas_per_order_placed_direct_sell": mean(sells),
        "gas_per_order_placed_relayed_buy": mean([p.mined.gas_used for p in relayed]),
        "erc20_transfer_gas (baseline, to a funded / empty account)": (
            f"{transfer:,} / {transfer_fresh:,}"
        ),
    }


def settlement_figures(bench: Bench, counts: Sequence[int], mode: str) -> dict[str, Any]:
    """Gas of settling a slot in which `n` members each have one order, per n in `counts`,
    and of an empty slot (the settlement's fixed cost)."""
    keys = bench.members(max(counts), f"bench-{mode}")
    matcher = Matcher(bench.node, bench.account(MATCHER))
    community = CommunityGateway(bench.node)
    bench.settle(matcher, community.current_slot() + 2)  # the deployment's first: fresh storage
    figures: dict[str, Any] = {}
    gas: dict[int, tuple[int, int]] = {}  # n -> (settlement gas, volume Wh)
    for n in counts:
        slot = community.current_slot() + 2
        bench.relay_crossing_orders(keys[:n], slot, nonce=slot)
        result = bench.settle(matcher, slot)
        assert result.gas_used is not None and result.orders == n
        figures[f"gas_per_member_slot_trades_settled_{n}_{mode}"] = result.gas_used // n
        gas[n] = (result.gas_used, result.volume_wh)
    if mode != "uniform":
        return figures
    empty = bench.settle(matcher, community.current_slot() + 2).gas_used
    assert empty is not None
    for n, (used, volume) in gas.items():
        figures[f"settle_tx_gas_{n}_uniform (volume Wh)"] = f"{used:,} ({volume:,} Wh)"
        figures[f"marginal_gas_per_member_{n}_uniform"] = (used - empty) // n
    figures["settle_tx_gas_empty_slot"] = empty
    return figures


def metered_figures(bench: Bench, members: int) -> dict[str, Any]:
    """`members` members with one meter each; two consecutive slots in which every member
    trades (half buy, half sell) and reports a reading. The second slot is the steady state:
    each meter's replay-protection word already exists. Gas of each step, per member-slot."""
    node = bench.node
    metered = bench.metered_members(members, "bench-metered")
    matcher = Matcher(node, bench.account(MATCHER))
    first = CommunityGateway(node).current_slot() + 2
    for slot in (first, first + 1):
        bench.relay_crossing_orders([key for key, _ in metered], slot, nonce=slot)
    close_gate(node, first + 1)
    trades = {r.slot: r.gas_used for r in matcher.run_once()}
    # Earlier slots (no readings) settle once their reading deadline has passed.
    advance_past_reading_deadline(node, first - 1)
    matcher.run_once()
    out: dict[str, dict[str, int]] = {}
    for label, slot in (("first", first), ("steady", first + 1)):
        gas = bench.deliver(matcher, metered, slot)
        out[label] = {
            "trades": int(trades.get(slot) or 0),
            "readings": sum(gas.get("submitReadings", [])),
            "imbalance": sum(gas.get("settleImbalances", [])),
        }
    steady, first_slot = out["steady"], out["first"]
    if not (steady["trades"] and steady["readings"] and steady["imbalance"]):
        raise RuntimeError(f"a step of the metered slot was not measured: {out}")
    return {
        f"gas_per_reading_{members}_batched (steady / a meter's first reading)": (
            f"{steady['readings'] // members:,} / {first_slot['readings'] // members:,}"
        ),
        f"gas_per_member_slot_imbalance_{members}": steady["imbalance"] // members,
        f"gas_per_member_slot_trades_{members}_in_metered_run": steady["trades"] // members,
        f"gas_per_member_slot_settled_{members} (trades + reading + imbalance + fees)": (
            sum(steady.values()) // members
        ),
    }


def run(settings: Settings, node_kind: str, counts: Sequence[int], metered: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with deployment(settings, node_kind, 20261121) as bench:
        figures.update(order_figures(bench))
        figures.update(settlement_figures(bench, counts, "uniform"))
    for mode in ("pay-as-bid", "community"):
        in_mode = settings.model_copy(
            update={"tariff": settings.tariff.model_copy(update={"mode": mode})}
        )
        env = {"GRIDSHARE_TARIFF__MODE": mode}
        with deployment(in_mode, node_kind, 20261122, env) as bench:
            figures.update(settlement_figures(bench, [min(200, max(counts))], mode))
    with deployment(settings, node_kind, 20261123) as bench:
        figures.update(metered_figures(bench, metered))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--node", choices=("anvil", "ganache"), default="anvil")
    parser.add_argument("--sizes", default=",".join(map(str, MEMBER_COUNTS)))
    parser.add_argument("--metered", type=int, default=METERED_MEMBERS, help="metered members")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    counts = sorted(int(s) for s in args.sizes.split(","))
    figures = run(load_settings(), args.node, counts, args.metered)
    show_and_record(
        "gas: orders, trade settlement, readings and imbalance (issues 2, 3)",
        f"{COMMAND}; node {args.node}",
        figures,
        NOTES,
        save=args.record,
    )


NOTES = """
Goals: issue 2, trade settlement <= 12k gas per member-slot; issue 3, trades + reading +
imbalance + fees <= 12k per member-slot at 200 members. These are the order book's paths (orders
placed on chain, one transaction each); the batched path that carries signed intents in the
slot's settlement is measured in the "batched" section (issue 16).

Setting: a private anvil (shanghai), solc 0.8.28 optimizer 100,000 runs, default tariff; since
the port off brownie (issue 19) every step goes through chain/gateway.py and the matcher service,
as the running system does. Each member has one order in the slot (half buy, half sell, crossing
prices, 200..3,000 Wh); orders are relayed (EIP-712), so members hold no ether. Per member-slot =
settle transaction gas / members; it includes the 21,000 base cost, the on-chain re-check of the
clearing (O(n), no sorting), the payout of every seller and every buyer's unused escrow, the two
DSO fee credits and the `SlotSettled` event carrying all fills; "marginal" leaves out the
empty-slot cost. The uniform sizes share one deployment (members 1..n of the same 1,000 trade in
later slots); pay-as-bid and community each get a deployment of their own.

Orders: the 2nd..11th orders of a slot (1,000 Wh each); relayed buys from 10 members with one
order each (placeOrderWithSig), direct orders from one member with ether (5 buys, 5 sells);
cancellations of 4 of its direct buys (cancelOrder) and of the 10 relayed buys
(cancelOrderWithSig, a second nonce each), escrow refunded while the slot keeps other escrow.

Metered run: 200 members with one meter each, every member trading and reporting in two
consecutive slots; readings signed by each meter, relayed 100 per transaction from the oracle's
account; the imbalance settled by the matcher once the readings are complete. The steady slot's
figures: the reading pays signature recovery and its calldata, the meter lookup, the meter's
replay word (5k; 22.1k for a meter's first reading) and the ReadingAccepted event; the imbalance
pays the token charge or credit, the per-member ImbalanceSettled event and the per-period export
counter (a fresh word the first time a member exports in a period).
"""


if __name__ == "__main__":
    main()
