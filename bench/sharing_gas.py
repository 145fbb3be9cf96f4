"""Gas of the sharing mode per member-slot: `python -m bench.sharing_gas --record`.

On a private anvil, a community deployed in the `sharing` mode (dynamic key) with N members
(200 and 1,000 by default), one meter each, chunks of `chunk_members` (256: 200 members are one
chunk, 1,000 are four, so the multi-chunk path with its tally is measured too). About
40 % of the members have PV: in each slot they export 1..1,500 Wh, the rest import 1..2,000 Wh
(the same members export in both slots, as a community's PV households do); every meter signs its
reading, the readings are relayed in batches of `--batch`, and the matcher's SharingStep
settles the slot (its tally if several chunks, then one `settle` per chunk).

Measured: `gas_per_member_slot_sharing` = (reading relay + tally + settle gas) / N, with the
breakdown (the reading alone, the tally, the settlement: allocation, money, fees, events), for
two slots of one period: the first writes every exporter's period export counter fresh (a new
storage word), the second is the steady state. Each reading is signed and relayed on its own
there. A third figure has each meter sign its readings of a day once, as a span
(`--span-slots`, 48: one daily period; as bench/year.py's meters do), relayed in transactions
of at most 15M gas once the day is delivered, then the day's 48 slots settled one by one:
(span gas + the 48 settlements' gas) / (N x 48). Those meters are fresh, so each one's first
reading (its replay word written from zero) is in that figure.
Goal <= 8,000.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence
from typing import Any

from bench.chainops import ORACLE, gas_by_function, metered_members, relay_signed, sign_readings
from bench.chunks import _advance_to, pruned_anvil
from bench.report import show_and_record
from chain.devchain import dev_sender
from chain.gateway import CommunityGateway, ReadingsGateway, SharingGateway
from chain.node import Node
from chain.signing import Reading, ReadingSpan, reading_span_typed_data, sign_typed_data
from matcher.service import Matcher
from oracle.relay import GAS_PER_SPAN_BOUND, GAS_PER_SPAN_READING_BOUND

GOAL = 8_000
SPAN_SLOTS = 48  # the spans figure: a day, as a meter signs its day (bench/year.py), one period
SPAN_BATCH_GAS = 15_000_000  # one reading transaction at most (issue 16's bound)


def run(members: int, batch: int, span_slots: int = 1) -> dict[str, Any]:
    rng = random.Random(23)
    env = {**os.environ, "GRIDSHARE_MARKET_MODE": "sharing", "GRIDSHARE_SHARING_KEY": "dynamic"}
    with pruned_anvil(env) as node:
        keys, meter_ids = metered_members(node, members, rng, "bench-sharing")
        community = CommunityGateway(node)
        matcher = Matcher(node, dev_sender(node, 2))
        sharing = SharingGateway(node)
        deadline = sharing.reading_deadline_seconds()
        slot = community.current_slot() + 1
        # Every slot before the measured one settles empty (past its deadline).
        _advance_to(node, community.slot_start(slot) + deadline + 1)
        matcher.run_once()
        if sharing.next_slot() != slot:
            raise RuntimeError(f"slots before {slot} not settled")
        _advance_to(node, community.slot_start(slot + 1) + 1)
        assert matcher.sharing_step is not None
        # The PV members, fixed: an exporter's period counter is fresh in its first export of
        # the period only (picking exporters anew each slot made most of them fresh again).
        exporters = {meter_id for meter_id in meter_ids if rng.random() < 0.4}
        measured: list[dict[str, list[int]]] = []
        if span_slots > 1:
            return _run_spans(node, matcher, keys, meter_ids, exporters, slot, span_slots, rng)
        # Two slots of the same period: the first writes each exporter's period counter fresh,
        # the second is the steady state.
        for k in (0, 1):
            _advance_to(node, community.slot_start(slot + k + 1) + 1)
            first_block = node.block_number() + 1
            day: list[tuple[Reading, Any]] = []
            for meter_id, key in zip(meter_ids, keys, strict=True):
                if meter_id in exporters:
                    imp, exp = 0, rng.randint(1, 1_500)
                else:
                    imp, exp = rng.randint(1, 2_000), 0
                day.append((Reading(meter_id, slot + k, imp, exp, 1 + k), key))
            relay_signed(node, sign_readings(node, day), batch, gas=node.block_gas_limit())
            relay = gas_by_function(node, first_block).get("submitReadings", [])
            measured.append({"relay": relay, **matcher.sharing_step.settle_slot(slot + k)})
        chunks = sharing.chunks_in(slot)
        if sharing.period_slots() < 2 or (slot + 1) % sharing.period_slots() == 0:
            raise RuntimeError("the two measured slots must lie in one period")
    return {"members": members, "chunks": chunks, "slots": measured}


def _run_spans(
    node: Node,
    matcher: Matcher,
    keys: Sequence[Any],
    meter_ids: Sequence[bytes],
    exporters: set[bytes],
    slot: int,
    span_slots: int,
    rng: random.Random,
) -> dict[str, Any]:
    """`span_slots` slots from `slot` on, each meter's readings of them signed once as a span
    (as a meter signs its day, bench/year.py) and relayed after the last slot's delivery within
    15M gas a transaction; then the matcher settles each slot. The gas of all of it."""
    community, sharing = CommunityGateway(node), SharingGateway(node)
    period = sharing.period_slots()
    if span_slots > period:
        raise RuntimeError(f"the {span_slots} measured slots must lie in one period")
    if slot % period + span_slots > period:  # start at the next period's first slot
        slot += period - slot % period
        _advance_to(node, community.slot_start(slot) + sharing.reading_deadline_seconds() + 1)
        matcher.run_once()  # the slots before it settle empty
        if sharing.next_slot() != slot:
            raise RuntimeError(f"slots before {slot} not settled")
    _advance_to(node, community.slot_start(slot + span_slots) + 1)
    first_block = node.block_number() + 1
    verifying, chain_id = ReadingsGateway(node).address, node.manifest.chain_id
    signed: list[tuple[ReadingSpan, bytes]] = []
    for meter_id, key in zip(meter_ids, keys, strict=True):
        flows = [
            (0, rng.randint(1, 1_500)) if meter_id in exporters else (rng.randint(1, 2_000), 0)
            for _ in range(span_slots)
        ]
        span = ReadingSpan(meter_id, slot, 1, tuple(flows))
        typed = reading_span_typed_data(span, chain_id, verifying)
        signed.append((span, sign_typed_data(typed, key.key)))
    per_tx = max(
        1, SPAN_BATCH_GAS // (GAS_PER_SPAN_BOUND + span_slots * GAS_PER_SPAN_READING_BOUND)
    )
    oracle, readings = dev_sender(node, ORACLE), ReadingsGateway(node)
    for start in range(0, len(signed), per_tx):
        part = signed[start : start + per_tx]
        readings.submit_reading_spans(
            [sp for sp, _ in part], [sig for _, sig in part], sender=oracle, gas=SPAN_BATCH_GAS
        )
    relay = gas_by_function(node, first_block).get("submitReadingSpans", [])
    assert matcher.sharing_step is not None
    settled: dict[str, list[int]] = {"relay": relay}
    for k in range(span_slots):
        for name, gas in matcher.sharing_step.settle_slot(slot + k).items():
            settled.setdefault(name, []).extend(gas)
    return {"members": len(keys), "chunks": sharing.chunks_in(slot), "slots": [settled]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--batch", type=int, default=250, help="readings per relay transaction")
    parser.add_argument(
        "--span-slots",
        type=int,
        default=SPAN_SLOTS,
        help="slots a meter signs in one span, for the spans figure (1: singles only)",
    )
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for n in args.members:
        runs: list[tuple[dict[str, Any], tuple[str, ...], int]] = [
            (run(n, args.batch), ("first slot of the period", "next slot"), 1)
        ]
        if args.span_slots > 1:
            spans = f"{args.span_slots} slots, readings in spans of {args.span_slots} slots"
            runs.append((run(n, args.batch, args.span_slots), (spans,), args.span_slots))
        for out, labels, slots in runs:
            _figures(figures, n, out, labels, slots)
    figures["machine_load_average_1min (at the end, 2 cores)"] = round(os.getloadavg()[0], 2)
    show_and_record(
        "sharing_gas: gas per member-slot in the sharing mode, anvil (issue 17)",
        f"python -m bench.sharing_gas --record  (--members 200 1000 --span-slots {SPAN_SLOTS})",
        figures,
        __doc__ or "",
        save=args.record,
    )


def _figures(
    figures: dict[str, Any], n: int, out: dict[str, Any], labels: Sequence[str], slots: int
) -> None:
    """The figures of one run: per member-slot, over `slots` slots per measured round."""
    for label, g in zip(labels, out["slots"], strict=True):
        member_slots = n * slots
        relay = sum(g["relay"]) / member_slots
        tally = sum(g.get("tally", [])) / member_slots
        settle = sum(g.get("settle", [])) / member_slots
        total = relay + tally + settle
        figures[f"gas_per_member_slot_sharing_{n}_members, {label} (goal <= {GOAL:,})"] = (
            f"{total:,.0f} = reading {relay:,.0f} + tally {tally:,.0f} + settle "
            f"{settle:,.0f} ({out['chunks']} chunk(s); largest settle tx "
            f"{max(g.get('settle', [0])):,}, largest reading tx {max(g['relay']):,}, "
            f"tally txs {len(g.get('tally', []))})"
        )


if __name__ == "__main__":
    main()
