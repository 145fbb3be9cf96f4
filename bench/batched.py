"""Batched settlement benchmark: `make bench-batched` (`python -m bench.batched`).

One member-slot on the batched path is one signed intent carried in the slot's settlement. On a
private anvil (and, with `--node ganache`, on ganache), with N members each holding one intent
for a slot (half buy, half sell, limits within the tariff's bounds, about half crossing), the
matcher service (`Matcher.run_once` with an intent pool) selects, clears and settles the slot in
one transaction. Measured, per N:

* the settlement's gas, and the same for an empty slot (the fixed cost of a settlement);
* `gas_per_order_batched`: the marginal gas of one more intent, (gas(N2) - gas(N1)) / (N2 - N1);
* the trade settlement's gas per member-slot, gas(N) / N;
* `slot_settle_1000_members_s`: wall time from the block that closes the gate to the receipt;
* `gas_per_order_direct`: a direct on-chain buy order (the forced-inclusion path) for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.matcher import TOP_UP, crossing_intents, registered_members
from bench.report import record
from chain.devchain import close_gate, dev_accounts, dev_chain, dev_sender
from chain.gateway import CommunityGateway, EnergyTokenGateway, OrderBookGateway
from chain.node import Node, Sender
from gridshare.settings import Settings, load_settings
from intents.pool import IntentPool
from matcher.service import Matcher, SlotResult


def _settle(matcher: Matcher, node: Node, slot: int) -> tuple[SlotResult, float]:
    close_gate(node, slot)
    start = time.perf_counter()
    results = matcher.run_once()
    elapsed = time.perf_counter() - start
    if slot not in [r.slot for r in results]:  # an earlier slot became due during the set-up
        close_gate(node, slot)
        start = time.perf_counter()
        results = matcher.run_once()
        elapsed = time.perf_counter() - start
    mine = [r for r in results if r.slot == slot]
    if len(mine) != 1 or mine[0].gas_used is None:
        raise RuntimeError(f"slot {slot} was not settled by this pass: {results}")
    result = mine[0]
    return result, elapsed


def run(node_kind: str, sizes: Sequence[int], settings: Settings) -> dict[str, Any]:
    rng = random.Random(16)
    out: dict[str, Any] = {"sizes": {}}
    with tempfile.TemporaryDirectory() as tmp, dev_chain(Path(tmp), node=node_kind) as chain:
        node_settings = settings.model_copy(update={"deployments_dir": Path(tmp)})
        node = Node.from_settings(chain.network_id, node_settings)
        started = time.perf_counter()
        keys = registered_members(node, max(sizes), rng, "bench-batched")
        out["setup_s"] = round(time.perf_counter() - started, 1)
        pool = IntentPool(f"sqlite:///{Path(tmp) / 'intents.sqlite'}")
        matcher = Matcher(node, dev_sender(node, 2), pool)
        community = CommunityGateway(node)
        slot = community.current_slot() + 2
        close_gate(node, slot - 1)
        matcher.run_once()  # settle everything before the measured slots
        empty, _ = _settle(matcher, node, slot)
        out["empty_slot_gas"] = empty.gas_used
        for n in sizes:
            slot += 1
            now = node.block_timestamp()
            for signed in crossing_intents(node, keys[:n], slot, settings.tariff, rng):
                pool.add(signed, now)
            result, elapsed = _settle(matcher, node, slot)
            if result.intents != n:
                raise RuntimeError(f"slot {slot}: {result.intents} of {n} intents carried")
            out["sizes"][n] = {
                "gas": result.gas_used,
                "seconds": round(elapsed, 3),
                "volume_wh": result.volume_wh,
                "fills": result.fills,
            }
        # A direct buy order (the forced-inclusion path), from a member with ether.
        member = dev_accounts(node)[6]
        dso = dev_sender(node, 0)
        community.register_member(member, "prosumer", 0, sender=dso)
        EnergyTokenGateway(node).top_up(
            member, TOP_UP, b"bench-direct".ljust(32, b"\0"), sender=dso
        )
        mined = OrderBookGateway(node).place_order(
            slot + 2, "buy", 1_000, settings.tariff.retail_price, sender=Sender(member)
        )
        out["direct_buy_gas"] = mined.gas_used
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--node", choices=("anvil", "ganache"), default="anvil")
    parser.add_argument("--sizes", default="200,1000", help="members per measured slot")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    settings = load_settings()
    result = run(args.node, sizes, settings)
    for n, r in result["sizes"].items():
        print(f"{n} intents: gas {r['gas']:,} ({r['gas'] / n:,.0f} per intent), {r['seconds']} s")
    print(f"empty slot: gas {result['empty_slot_gas']:,}")
    print(f"direct buy order: gas {result['direct_buy_gas']:,}")
    lo, hi = sizes[0], sizes[-1]
    figures: dict[str, Any] = {}
    if hi > lo:
        marginal = (result["sizes"][hi]["gas"] - result["sizes"][lo]["gas"]) / (hi - lo)
        print(f"gas_per_order_batched: {marginal:,.0f}")
        figures[f"gas_per_order_batched (marginal, {lo} -> {hi} intents; goal <= 5,000)"] = round(
            marginal
        )
    for n, r in result["sizes"].items():
        figures[f"settlement_gas_{n}_intents / per intent"] = f"{r['gas']:,} / {r['gas'] / n:,.0f}"
        figures[f"slot_settle_{n}_members_s ({args.node})"] = r["seconds"]
    figures["settlement_gas_empty_slot"] = result["empty_slot_gas"]
    figures["gas_per_order_direct (a fresh member's first direct buy; goal <= 50,000)"] = result[
        "direct_buy_gas"
    ]
    figures["setup_s"] = result["setup_s"]
    figures["machine_load_average_1min (at the end, 2 cores)"] = round(os.getloadavg()[0], 2)
    if args.record:
        record(
            f"batched: intents carried in the slot's settlement, {args.node} (issue 16)",
            "make bench-batched  (python -m bench.batched "
            f"--node {args.node} --sizes {args.sizes} --record)",
            figures,
            NOTES,
        )


NOTES = """
N fresh members (prosumers, topped up, no ether: they never send a transaction) each sign one
intent for one slot, half buy and half sell, 200..3,000 Wh, limits within the default tariff's
bounds so that about half cross; the matcher service (`Matcher.run_once` with its SQLite intent
pool: holders' role, epoch and spendable balance read in one call, selection by the pure rule in
market/intents.py, clearing, one `settleSlot` carrying the batch) settles the slot. The gas is the
settlement transaction's (21,000 base and calldata included): signature recovery, the checks, the
clearing re-check, each holder's account written once through `EnergyToken.settleNet`, the
SlotSettled event with the intents' words and ids. `gas_per_order_batched` is the marginal gas of
one more intent between the two sizes. The time is from the block that closes the gate to the
receipt. The direct buy order is `OrderBook.placeOrder` (escrow, four storage words): the
fallback path, unchanged in this step.
"""


if __name__ == "__main__":
    main()
