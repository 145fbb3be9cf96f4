"""Largest transactions of a big community: `make bench-chunks` (`python -m bench.chunks`).

On a private anvil, N members (default 10,000) are registered with one meter each, in chunks of
`chunk_members` (256). Then one slot runs through the services' own code paths, and a period is
closed:

* the slot's trades settle (`Matcher.run_once`; no orders: the fixed cost);
* every meter signs its reading and the readings are relayed in batches of `--batch` (the
  oracle relay's bound), one `submitReadings` transaction each;
* `Matcher.settle_imbalances` settles the slot against the meters, one transaction per chunk;
* the period's remaining slots settle without readings (after the reading deadline), and the
  period is closed in calls of `chunk_members` members (`ProfitSharing.closePeriod`).

Measured: the gas of every transaction by kind, the largest of them
(`largest_tx_gas_10000_members`; goal <= 15,000,000) and the imbalance gas per member. It is
one slot's work plus a period close, not a whole day of trading. The trade settlement is left
out: it grows with the slot's orders, not with the community, bounded by `max_orders_per_slot`,
and is measured in bench/batched (27.5M gas for 1,000 intents there): a slot with more than
about 540 intents (27.4k gas each) is over 15M, whatever the community's size.

anvil runs with `--prune-history 64`: it keeps every past state in memory unless told to prune
(9.7 GB at 4,000 blocks in bench/thousand), and with 4,096 states kept this run's 30,000
set-up blocks had taken 19.5 GB when it was stopped. The services read at or near the head.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.chainops import gas_by_function, metered_members, relay_signed, sign_readings
from bench.report import show_and_record
from chain.devchain import dev_accounts, dev_chain
from chain.gateway import (
    CommunityGateway,
    ImbalanceGateway,
    ProfitSharingGateway,
    SettlementGateway,
)
from chain.node import Node, Sender
from chain.signing import Reading
from gridshare.settings import load_settings
from matcher.service import Matcher

PERIOD_SLOTS = 4


def _advance_to(node: Node, timestamp: int) -> None:
    """Mine an empty block at `timestamp` if the chain is behind it (anvil's evm_increaseTime
    offset runs ahead of or behind the head after many quick blocks, so the time is set)."""
    if node.block_timestamp() < timestamp:
        node.make_request("evm_mine", [timestamp])


@contextmanager
def pruned_anvil(env: Mapping[str, str]) -> Iterator[Node]:
    """A node on a private anvil with the contracts deployed under `env`, stopped on exit,
    keeping only the last 64 states in memory (the module's docstring says why)."""
    settings = load_settings()
    with (
        tempfile.TemporaryDirectory() as tmp,
        dev_chain(Path(tmp), env, node="anvil", extra=("--prune-history", "64")) as chain,
    ):
        yield Node.from_settings(
            chain.network_id, settings.model_copy(update={"deployments_dir": Path(tmp)})
        )


def run(members: int, batch: int) -> dict[str, Any]:
    rng = random.Random(17)
    env = {**os.environ, "GRIDSHARE_PERIOD_SLOTS": str(PERIOD_SLOTS)}
    with pruned_anvil(env) as node:
        accounts = dev_accounts(node)
        dso, matcher_account = accounts[0], accounts[2]
        started = time.perf_counter()
        keys, meter_ids = metered_members(node, members, rng, "bench-chunks")
        community = CommunityGateway(node)
        setup_s = time.perf_counter() - started
        matcher = Matcher(node, Sender(matcher_account))
        slot = community.current_slot() + 2
        slot += (-slot) % PERIOD_SLOTS  # the first slot of a period
        _advance_to(node, community.gate_closure(slot) + 1)
        matcher.run_once()  # the trades of every slot up to the measured one
        imbalance_gw = ImbalanceGateway(node)
        deadline = imbalance_gw.reading_deadline_seconds()
        # Past the slot's delivery and the reading deadline of every slot before it: those settle
        # without readings now, the measured slot waits for its readings.
        _advance_to(node, community.slot_start(slot) + deadline + 1)
        matcher.settle_imbalances()
        if imbalance_gw.next_slot() != slot:
            trades_at = SettlementGateway(node).next_slot()
            raise RuntimeError(
                f"slots before {slot} not settled: meters at {imbalance_gw.next_slot()}"
                f", trades at {trades_at}"
            )
        first_block = node.block_number() + 1
        signed = sign_readings(
            node,
            [
                (Reading(meter_id, slot, rng.randint(0, 900), rng.randint(0, 900), 1), key)
                for meter_id, key in zip(meter_ids, keys, strict=True)
            ],
        )
        relay_started = time.perf_counter()
        relay_signed(node, signed, batch, gas=node.block_gas_limit())
        relay_s = time.perf_counter() - relay_started
        imbalance_started = time.perf_counter()
        settled = matcher.settle_imbalances()
        imbalance_s = time.perf_counter() - imbalance_started
        if slot not in settled.slots:
            raise RuntimeError(f"slot {slot} was not settled against the meters: {settled}")

        # The rest of the period, without readings, then its close in chunks.
        last = slot + PERIOD_SLOTS - 1
        _advance_to(node, community.gate_closure(last) + 1)
        matcher.run_once()
        _advance_to(node, community.slot_start(last + 1) + deadline + 1)
        matcher.settle_imbalances()
        sharing = ProfitSharingGateway(node)
        size = sharing.max_chunk()
        ordered = sorted((k.address for k in keys), key=lambda a: int(a, 16))
        period = slot // PERIOD_SLOTS
        close_started = time.perf_counter()
        for start in range(0, len(ordered), size):
            sharing.close_period(
                period,
                ordered[start : start + size],
                sender=Sender(dso),
                gas=node.block_gas_limit(),
            )
        close_s = time.perf_counter() - close_started
        gas = gas_by_function(node, first_block)
    largest = max((g, name) for name, gs in gas.items() for g in gs)
    imbalance = gas.get("settleImbalances", [])
    measured = imbalance[: (members + size - 1) // size]  # the measured slot's chunks come first
    return {
        "members": members,
        "chunk_members": size,
        "setup_s": round(setup_s, 1),
        "relay_s": round(relay_s, 2),
        "imbalance_s": round(imbalance_s, 2),
        "close_s": round(close_s, 2),
        "largest": largest,
        "gas": gas,
        "imbalance_with_readings": measured,
        "readings_batch": batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=250, help="readings per relay transaction")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    out = run(args.members, args.batch)
    gas = out["gas"]
    imb = out["imbalance_with_readings"]
    n = out["members"]
    figures = {
        f"largest_tx_gas_{n}_members (one slot with every meter's reading + a period close; "
        "goal <= 15,000,000)": f"{out['largest'][0]:,} ({out['largest'][1]})",
        "largest by kind (gas)": {name: max(gs) for name, gs in sorted(gas.items())},
        "transactions by kind": {name: len(gs) for name, gs in sorted(gas.items())},
        "settleImbalances with readings: transactions / gas per member": (
            f"{len(imb)} / {sum(imb) / n:,.0f}"
        ),
        "submitReadings gas per reading": (
            f"{sum(gas.get('submitReadings', [])) / n:,.0f} (batches of {out['readings_batch']})"
        ),
        "closePeriod gas per member": f"{sum(gas.get('closePeriod', [])) / n:,.0f}",
        "setup_s / relay_s / imbalance_s / close_s": (
            f"{out['setup_s']} / {out['relay_s']} / {out['imbalance_s']} / {out['close_s']}"
        ),
        "machine_load_average_1min (at the end, 2 cores)": round(os.getloadavg()[0], 2),
    }
    show_and_record(
        f"chunks: largest transactions at {n} members, anvil (issue 16)",
        f"make bench-chunks  (python -m bench.chunks --members {n} --record)",
        figures,
        __doc__ or "",
        save=args.record,
    )


if __name__ == "__main__":
    main()
