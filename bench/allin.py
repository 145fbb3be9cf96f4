"""`gas_per_member_slot_all_in`: the gas of one member-slot on the path the services take,
everything that settles it included: `make bench-allin` (`python -m bench.allin --record`).

On a private anvil, a community deployed with a reading deadline of a day (so that a day's span
of readings may settle) and a billing period of two rounds of `--slots` slots: N metered members
(one meter each, signed by the member's own key). Each round, every member signs one intent per
slot (half buy, half sell, about half crossing) into the matcher's intent pool; the matcher
(`Matcher.run_once`) settles each slot in one transaction carrying them; after the round's
delivery each meter signs the round's readings as one span, the oracle's account relays the
spans, and the matcher settles the round against the meters in batches (`settleImbalances`,
within `imbalance_batch_gas`). The first round warms up (each meter's first reading, each
member's first export of the period); the second is measured. Then the DSO closes the period
(`closePeriod`, in chunks), measured per member and shared over the default billing period.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.chainops import DSO, MATCHER, ORACLE, gas_by_function, metered_members
from bench.matcher import crossing_intents
from bench.report import record
from chain.devchain import advance_to, close_gate, dev_chain, dev_sender
from chain.gateway import CommunityGateway, ProfitSharingGateway, ReadingsGateway
from chain.node import Node
from chain.signing import Reading, ReadingSpan, reading_span_typed_data, sign_typed_data
from gridshare.settings import Settings, load_settings
from intents.pool import IntentPool
from matcher.service import Matcher
from sim.runner import genesis_for

SLOTS = 8  # slots per round (and per span)
SPANS_PER_TX = 100
SETTLING = ("settleSlot", "submitReadingSpans", "settleImbalances")


class Round:
    """One deployment's members, meters, intent pool and matcher, driven a round at a time."""

    def __init__(self, node: Node, members: int, settings: Settings, pool: IntentPool) -> None:
        self.node = node
        self.settings = settings
        self.rng = random.Random(members)
        self.keys, self.meter_ids = metered_members(node, members, self.rng, "bench-allin")
        self.pool = pool
        self.matcher = Matcher(
            node,
            dev_sender(node, MATCHER),
            pool,
            imbalance_batch_gas=settings.imbalance_batch_gas,
        )
        self.community = CommunityGateway(node)
        self.readings = ReadingsGateway(node)

    def sign_intents(self, slots: range) -> None:
        """Every member's intent for each of `slots`, signed into the pool."""
        now = self.node.block_timestamp()
        for slot in slots:
            for signed in crossing_intents(
                self.node, self.keys, slot, self.settings.tariff, self.rng
            ):
                self.pool.add(signed, now)

    def settle_trades(self, slots: range) -> None:
        for slot in slots:
            close_gate(self.node, slot)
            settled = {r.slot: r for r in self.matcher.run_once()}
            if slot not in settled or settled[slot].intents != len(self.keys):
                raise RuntimeError(f"slot {slot}: not settled with every intent: {settled}")

    def relay_spans(self, slots: range) -> None:
        """After `slots` are delivered: each meter signs them as one span, relayed in batches."""
        advance_to(self.node, self.community.slot_start(slots.stop) + 1)
        chain_id, verifying = self.node.manifest.chain_id, self.readings.address
        signed: list[tuple[ReadingSpan, bytes]] = []
        for key, meter_id in zip(self.keys, self.meter_ids, strict=True):
            readings = [
                Reading(meter_id, s, self.rng.randint(0, 3_000), self.rng.randint(0, 3_000), s + 1)
                for s in slots
            ]
            span = ReadingSpan.of(readings)
            typed = reading_span_typed_data(span, chain_id, verifying)
            signed.append((span, sign_typed_data(typed, key.key)))
        oracle = dev_sender(self.node, ORACLE)
        for start in range(0, len(signed), SPANS_PER_TX):
            part = signed[start : start + SPANS_PER_TX]
            self.readings.submit_reading_spans(
                [s for s, _ in part],
                [sig for _, sig in part],
                sender=oracle,
                gas=self.node.block_gas_limit(),
            )

    def settle_meters(self, slots: range) -> int:
        """The matcher settles `slots` against the meters; returns its transactions."""
        done = self.matcher.settle_imbalances()
        if not set(slots) <= set(done.slots):
            raise RuntimeError(f"slots {slots} not settled against the meters: {done}")
        return done.transactions

    def run(self, slots: range) -> int:
        """One round over `slots`; returns the transactions settling it against the meters."""
        self.sign_intents(slots)
        self.settle_trades(slots)
        self.relay_spans(slots)
        return self.settle_meters(slots)

    def close(self, period: int) -> None:
        """The DSO closes `period` for every member, in chunks of the contract's maximum."""
        sharing = ProfitSharingGateway(self.node)
        size = sharing.max_chunk()
        members = sorted((k.address for k in self.keys), key=lambda a: int(a, 16))
        for start in range(0, len(members), size):
            sharing.close_period(
                period,
                members[start : start + size],
                sender=dev_sender(self.node, DSO),
                gas=self.node.block_gas_limit(),
            )


def deployment_env(slots: int, settings: Settings) -> dict[str, str]:
    """The deployment's settings: a reading deadline of a day (a round's span may settle), a
    billing period of two rounds, genesis an hour from now."""
    return {
        "GRIDSHARE_READING_DEADLINE_SECONDS": "86400",
        "GRIDSHARE_PERIOD_SLOTS": str(2 * slots),
        "GRIDSHARE_GENESIS": str(genesis_for(int(time.time()), margin_seconds=3600)),
        "GRIDSHARE_CHUNK_MEMBERS": str(settings.chunk_members),
    }


@contextmanager
def deployed_round(
    members: int, slots: int, settings: Settings, extra: Sequence[str] = ()
) -> Iterator[Round]:
    """A private anvil (`extra`: more flags for it) with the community deployed for rounds of
    `slots` slots and `members` members ready to play them; stopped on exit."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        dev_chain(Path(tmp), deployment_env(slots, settings), "anvil", extra=extra) as chain,
    ):
        node = Node.from_settings(
            chain.network_id, settings.model_copy(update={"deployments_dir": Path(tmp)})
        )
        pool = IntentPool(f"sqlite:///{Path(tmp) / 'intents.sqlite'}")
        yield Round(node, members, settings, pool)


def measure(members: int, slots: int, settings: Settings) -> dict[str, Any]:
    """Two rounds of `slots` slots with `members` members (the second measured) and the close
    of the period they make up, deployed with `settings.chunk_members`."""
    with deployed_round(members, slots, settings) as rounds:
        node = rounds.node
        warm_up = range(0, slots)
        rounds.run(warm_up)
        start = node.block_number() + 1
        imbalance_txs = rounds.run(range(slots, 2 * slots))
        measured = gas_by_function(node, start)
        close_start = node.block_number() + 1
        rounds.close(0)
        close = gas_by_function(node, close_start).get("closePeriod", [])
    member_slots = members * slots
    per = {name: sum(measured.get(name, [])) / member_slots for name in SETTLING}
    close_per_member = sum(close) / members
    close_share = close_per_member / settings.period_slots
    all_in = sum(per.values()) + close_share
    return {
        "all_in": all_in,
        "per": per,
        "close_per_member": close_per_member,
        "close_share": close_share,
        "transactions": {name: len(used) for name, used in measured.items()},
        "imbalance_txs": imbalance_txs,
        "largest": max((max(used), name) for name, used in measured.items()),
    }


def figures(results: dict[int, dict[str, Any]], slots: int, period_slots: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, r in sorted(results.items()):
        parts = " + ".join(f"{k} {v:,.0f}" for k, v in r["per"].items())
        out[f"gas_per_member_slot_all_in ({n} members, uniform; goal <= 12,500)"] = (
            f"{r['all_in']:,.0f} = {parts} + period close {r['close_share']:,.0f}"
        )
        out[f"closePeriod gas per member, {n} members (shared over {period_slots} slots)"] = round(
            r["close_per_member"]
        )
        out[f"transactions for {slots} slots of {n} members (by function)"] = r["transactions"]
        out[f"largest transaction, {n} members (gas, function)"] = "{:,} ({})".format(*r["largest"])
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,1000", help="members")
    parser.add_argument("--slots", type=int, default=SLOTS, help="slots per round and span")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args(argv)
    settings = load_settings()
    load_before = os.getloadavg()[0]
    results = {
        int(n): measure(int(n), args.slots, settings) for n in args.sizes.split(",") if n.strip()
    }
    out = figures(results, args.slots, settings.period_slots)
    out["machine_load_average_1min (start / end, 2 cores)"] = (
        f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
    )
    for k, v in out.items():
        print(f"{k}: {v}")
    if args.record:
        record(
            "gas: one member-slot all in, intents, spans and batches (issue 16)",
            f"make bench-allin  (python -m bench.allin --sizes {args.sizes} --record)",
            out,
            NOTES,
        )


NOTES = f"""
{__doc__.split(chr(10) + chr(10), 1)[1].strip()}

`gas_per_member_slot_all_in` = (the measured round's `settleSlot` + `submitReadingSpans` +
`settleImbalances` gas) / (members x slots) + the period close's gas per member / the default
billing period (`period_slots`, 1,440 slots = 30 days). Gas is the receipts' gasUsed (21,000
base and calldata included). Members sign intents and never send a transaction; a direct order
(the forced-inclusion path) is not part of the figure (bench-batched gives its gas).
"""


if __name__ == "__main__":
    main()
