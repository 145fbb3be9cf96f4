"""Gas of the sharing mode per member-slot: `python -m bench.sharing_gas --record`.

On a private anvil, a community deployed in the `sharing` mode (dynamic key) with N members
(200 and 1,000 by default), one meter each, chunks of `chunk_members` (256: 200 members are one
chunk, 1,000 are four, so the multi-chunk path with its tally passes is measured too). About
40 % of the members have PV: in each slot they export 1..1,500 Wh, the rest import 1..2,000 Wh
(the same members export in both slots, as a community's PV households do); every meter signs its
reading, the readings are relayed in batches of `--batch`, and the matcher's SharingStep
settles the slot (tally passes if several chunks, then one `settle` per chunk).

Measured: `gas_per_member_slot_sharing` = (reading relay + tally + settle gas) / N, with the
breakdown (the reading alone, the tally, the settlement: allocation, money, fees, events), for
two slots of one period: the first writes every exporter's period export counter fresh (a new
storage word), the second is the steady state.
Goal <= 8,000.
"""

from __future__ import annotations

import argparse
import os
import random
from typing import Any

from bench.chainops import gas_by_function, metered_members, relay_signed, sign_readings
from bench.chunks import _advance_to, pruned_anvil
from bench.report import show_and_record
from chain.devchain import dev_sender
from chain.gateway import CommunityGateway, SharingGateway
from chain.signing import Reading
from matcher.service import Matcher

GOAL = 8_000


def run(members: int, batch: int) -> dict[str, Any]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--batch", type=int, default=250, help="readings per relay transaction")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for n in args.members:
        out = run(n, args.batch)
        for label, g in zip(("first slot of the period", "next slot"), out["slots"], strict=True):
            relay = sum(g["relay"]) / n
            tally = sum(g.get("tally", [])) / n
            settle = sum(g.get("settle", [])) / n
            total = relay + tally + settle
            figures[f"gas_per_member_slot_sharing_{n}_members, {label} (goal <= {GOAL:,})"] = (
                f"{total:,.0f} = reading {relay:,.0f} + tally {tally:,.0f} + settle "
                f"{settle:,.0f} ({out['chunks']} chunk(s); largest settle tx "
                f"{max(g.get('settle', [0])):,}, tally txs {len(g.get('tally', []))})"
            )
    figures["machine_load_average_1min (at the end, 2 cores)"] = round(os.getloadavg()[0], 2)
    show_and_record(
        "sharing_gas: gas per member-slot in the sharing mode, anvil (issue 17)",
        "python -m bench.sharing_gas --record  (--members 200 1000)",
        figures,
        __doc__ or "",
        save=args.record,
    )


if __name__ == "__main__":
    main()
