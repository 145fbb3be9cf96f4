"""Gas per reading relayed as spans (each meter signs a day once, `submitReadingSpans`) against
single readings (each slot signed alone, `submitReadings`), on a private anvil.

100 registered meters; day 0 relays one slot per meter (every meter's first reading, which
writes its replay word from zero: left out of both figures), day 1 relays a day of single
readings, day 2 the same day's readings as one span per meter. Both go through the real meter
side (`Ingest`, span_slots 1 or 48) and the relay (`Relay.run_once`, receipts' gas).

    .venv/bin/python -m bench.spans --record
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from eth_account import Account

from bench.chainops import gas_by_function
from bench.oracle import LIMITS, METERS, PASSWORD, _items, _keys
from bench.report import record
from bench.year import dev_network
from chain.calendar import read_calendar
from chain.devchain import dev_sender, free_port
from chain.gateway import CommunityGateway, ReadingsGateway
from chain.node import Node
from gridshare.settings import Settings
from market.calendar import Calendar
from oracle.meter.ingest import Ingest
from oracle.meter.keys import read_key
from oracle.meter.signing import Domain, MeterSigner
from oracle.outbox import open_outbox
from oracle.relay import Relay, RelayStats
from oracle.samples import SourceItem, meter_id
from sim.chainrun import deploy

DAY_SLOTS = 48


def _relay_day(
    node: Node, tmp: Path, names: list[str], calendar: Calendar, first: int, slots: int,
    span_slots: int, db: str,
) -> RelayStats:  # fmt: skip
    """`slots` slots from `first` of every meter signed (per span of `span_slots`) and relayed
    once time has passed them."""
    end = calendar.genesis + (first + slots) * calendar.slot_seconds + 1
    node.make_request("evm_increaseTime", [max(0, end - node.block_timestamp())])
    node.make_request("evm_mine", [])
    domain = Domain(node.manifest.chain_id, ReadingsGateway(node).address)
    engine = open_outbox(f"sqlite:///{tmp / db}")
    items = _items(names, calendar, first, slots)
    for name in names:
        signer = MeterSigner(name, read_key(tmp / "keys", name, PASSWORD), domain)
        mine: list[SourceItem] = [it for it in items if getattr(it.item, "meter", None) == name]
        ingest = Ingest(engine, signer, calendar, LIMITS, node.block_timestamp, span_slots)
        ingest.run("bench", mine)
        ingest.flush()
    oracle = dev_sender(node, 1)
    return Relay(engine, node, oracle, calendar, 200).run_once()


def measure(port: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp_dir, dev_network(port) as network:
        tmp = Path(tmp_dir)
        env = {
            "GRIDSHARE_DEPLOYMENTS_DIR": str(tmp / "deployments"),
            "GRIDSHARE_READING_DEADLINE_SECONDS": str(4 * 86_400),
        }
        deploy(network, env)
        node = Node.from_settings(network, Settings(deployments_dir=tmp / "deployments"))
        dso = dev_sender(node, 0)
        community = CommunityGateway(node)
        meters = _keys(tmp / "keys", METERS)
        for name, signer in meters:
            member = Account.create().address
            community.register_member(member, "consumer", 0, sender=dso)
            community.register_meter(meter_id(name), member, signer, sender=dso)
        calendar = read_calendar(node)
        names = [m for m, _ in meters]
        day = ReadingsGateway(node).open_from_slot()
        day += -day % DAY_SLOTS + DAY_SLOTS  # the next whole calendar day
        first = _relay_day(node, tmp, names, calendar, day - 1, 1, 1, "first.db")
        singles = _relay_day(node, tmp, names, calendar, day, DAY_SLOTS, 1, "singles.db")
        spans_from = node.block_number() + 1
        spans = _relay_day(
            node, tmp, names, calendar, day + DAY_SLOTS, DAY_SLOTS, DAY_SLOTS, "spans.db"
        )
        largest = max(gas_by_function(node, spans_from)["submitReadingSpans"])
    for stats in (first, singles, spans):
        if stats.quarantined or not stats.sent:
            raise RuntimeError(f"the relay did not send everything: {stats}")
    per_single = singles.gas_used / singles.sent
    per_span_reading = spans.gas_used / spans.sent
    return {
        "gas_per_reading_single (a day of 100 meters, batches of 200)": round(per_single),
        "gas_per_reading_in_day_spans (100 meters, one span each)": round(per_span_reading),
        "saving_per_reading (single - span)": round(per_single - per_span_reading),
        "singles: readings / transactions / gas": (
            f"{singles.sent} / {singles.transactions} / {singles.gas_used:,}"
        ),
        "spans: readings / spans / transactions / gas": (
            f"{spans.sent} / {spans.spans_sent} / {spans.transactions} / {spans.gas_used:,}"
        ),
        "spans: largest transaction's gas (budget: oracle_batch_gas 15,000,000)": f"{largest:,}",
        "first readings (left out): readings / gas per reading": (
            f"{first.sent} / {round(first.gas_used / first.sent):,}"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="anvil's port (default: free)")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    figures = measure(args.port or free_port())
    figures["machine_load_average_1min (start / end, 2 cores)"] = (
        f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
    )
    print(figures)
    if args.record:
        record(
            "oracle: gas per reading relayed as day spans vs single readings, anvil (issue 16)",
            "make bench-spans  (python -m bench.spans --record)",
            figures,
            NOTES,
        )


NOTES = f"""
{METERS} meters registered on a private anvil (chain id 1337, 60M gas blocks, shanghai; reading
deadline 4 days so that a day's span may settle). Day 0: one slot of every meter relayed first
(each meter's first reading writes its replay word from zero; shown apart, left out of both
figures). Day 1: every meter's 48 readings signed one by one (`gridshare meter run` with
GRIDSHARE_METER_SPAN_SLOTS=1) and relayed by `oracle.relay.Relay` in `submitReadings` batches of
200. Day 2: the same shape of day signed as one span per meter (span_slots 48) and relayed by
`submitReadingSpans`, as many spans per transaction as the relay's gas bounds allow. Gas is the
receipts' gasUsed (21,000 base and calldata included) divided by the readings carried. Both
paths fold each reading into its slot's commitment; a span saves the per-reading signature
(recovery and 65 bytes of calldata), the meter lookup, the per-reading tuple encoding and the
per-reading event (a single reading's ReadingAccepted; a span has one ReadingSpanAccepted).
"""


if __name__ == "__main__":
    main()
