"""Oracle benchmarks (issue 5): readings signed and queued per second, and gas per reading as
the relay sends them to a real ganache.

    make bench-oracle   (python -m bench.oracle)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eth_account import Account

from bench.report import record
from chain.calendar import read_calendar
from chain.devchain import dev_accounts, dev_chain
from chain.gateway import CommunityGateway, ReadingsGateway
from chain.node import Node, Sender
from gridshare.settings import load_settings
from market.calendar import Calendar
from oracle.meter.ingest import Ingest
from oracle.meter.keys import read_key, write_keystore
from oracle.meter.signing import Domain, MeterSigner
from oracle.outbox import open_outbox
from oracle.relay import Relay
from oracle.samples import SourceItem, meter_id
from oracle.slots import Limits
from oracle.sources.sim import SimulatedMeter

PASSWORD = "bench"
METERS = 100
SLOTS = 48  # a day of 30-minute slots
PER_SLOT = 3  # samples per meter and slot (a 10-minute logger)
LIMITS = Limits(rating_w=27_600, max_future_seconds=300)


def _items(meters: list[str], calendar: Calendar, first_slot: int, slots: int) -> list[SourceItem]:
    sims = [SimulatedMeter(m, 1_000_000, 0) for m in meters]
    start = calendar.genesis + first_slot * calendar.slot_seconds
    items = [s.sample(start) for s in sims]
    for k in range(slots):
        t = start + k * calendar.slot_seconds
        for n, sim in enumerate(sims):
            items += sim.slot_samples(t, calendar.slot_seconds, 200 + n, 37 * (k % 3), PER_SLOT)
    return [SourceItem(i + 1, s) for i, s in enumerate(items)]


def _keys(directory: Path, count: int) -> list[tuple[str, str]]:
    out = []
    for n in range(count):
        name, acct = f"B{n:05d}", Account.create()
        write_keystore(directory, name, "0x" + bytes(acct.key).hex(), PASSWORD, iterations=2)
        out.append((name, str(acct.address)))
    return out


def _sign_all(
    tmp: Path, keys: Path, meters: list[str], calendar: Calendar, domain: Domain,
    items: list[SourceItem], now: Callable[[], int], db: str,
) -> int:  # fmt: skip
    """Every meter's signer (its key decrypted first) takes its own items into the outbox."""
    engine = open_outbox(f"sqlite:///{tmp / db}")
    signers = [MeterSigner(m, read_key(keys, m, PASSWORD), domain) for m in meters]
    readings = 0
    for signer in signers:
        mine = [it for it in items if getattr(it.item, "meter", None) == signer.meter]
        readings += Ingest(engine, signer, calendar, LIMITS, now).run("bench", mine).readings
    return readings


def readings_per_s(tmp: Path) -> tuple[float, int]:
    """Sim samples for METERS meters over a day, each meter's through its own signer: checks,
    interpolation, signing and the SQLite outbox (durable commits), keys already decrypted."""
    meters = [name for name, _ in _keys(tmp / "keys", METERS)]
    calendar = Calendar(genesis=1_800_000_000, slot_seconds=1800, gate_closure_seconds=300)
    domain = Domain(1337, "0x" + "22" * 20)
    items = _items(meters, calendar, 0, SLOTS)
    start = time.perf_counter()
    readings = _sign_all(tmp, tmp / "keys", meters, calendar, domain, items,
                         lambda: 1_900_000_000, "rate.db")  # fmt: skip
    elapsed = time.perf_counter() - start
    return readings / elapsed, readings


def gas_per_reading(tmp: Path) -> tuple[float, int, int]:
    """METERS registered meters, 4 slots relayed by `Relay` in batches of 200 readings:
    (gas per reading, readings, transactions). The first reading of each meter is the costlier
    one (its replay word is written from zero)."""
    settings = load_settings()
    with dev_chain(tmp / "deployments") as chain:
        node = Node.from_settings(
            chain.network_id, settings.model_copy(update={"deployments_dir": tmp / "deployments"})
        )
        accounts = dev_accounts(node)
        dso, oracle = Sender(accounts[0]), Sender(accounts[1])
        community = CommunityGateway(node)
        meters = _keys(tmp / "chain-keys", METERS)
        for n, (name, signer) in enumerate(meters):
            member = Account.create().address
            community.register_member(member, "consumer", 0, sender=dso)
            community.register_meter(meter_id(name), member, signer, sender=dso)
            del n
        calendar = read_calendar(node)
        readings = ReadingsGateway(node)
        first = readings.open_from_slot()
        node.make_request(
            "evm_increaseTime",
            [calendar.genesis + (first + 6) * calendar.slot_seconds - node.block_timestamp()],
        )
        node.make_request("evm_mine", [])
        domain = Domain(node.manifest.chain_id, readings.address)
        names = [m for m, _ in meters]
        items = _items(names, calendar, first, 4)
        _sign_all(tmp, tmp / "chain-keys", names, calendar, domain, items, node.block_timestamp,
                  "relay.db")  # fmt: skip
        relay = Relay(open_outbox(f"sqlite:///{tmp / 'relay.db'}"), node, oracle, calendar, 200)
        stats = relay.run_once()
    return stats.gas_used / stats.sent, stats.sent, stats.transactions


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rate, queued = readings_per_s(Path(tmp))
        print(f"oracle_readings_per_s: {rate:.0f} ({queued} readings)")
        gas, sent, txs = gas_per_reading(Path(tmp))
        print(f"gas_per_reading (relayed): {gas:,.0f} ({sent} readings in {txs} transactions)")
    record(
        "oracle: readings signed and queued, gas per relayed reading (issue 5)",
        "make bench-oracle  (python -m bench.oracle)",
        {
            "oracle_readings_per_s": round(rate),
            "oracle_readings_queued": queued,
            "gas_per_reading (relayed, batches of 200, incl. each meter's first)": round(gas),
            "relayed readings / transactions": f"{sent} / {txs}",
        },
        NOTES,
    )


NOTES = f"""
`oracle_readings_per_s`: {METERS} simulated meters, one day ({SLOTS} slots) with {PER_SLOT}
samples per slot, each meter's through its own signer (`oracle.meter.ingest.Ingest`, as
`gridshare meter run` does): plausibility checks, interpolation to slot energy, EIP-712 signing
with the meter's key and the SQLite outbox with synchronous=FULL commits every 500 of a meter's
items. Keys are decrypted before timing (a signer opens its keystore once, at start). The
signers run one after the other in one process, one core.

`gas_per_reading`: the same readings for 4 slots of {METERS} registered meters, relayed by
`oracle.relay.Relay` (estimate, sign, send, receipt) to ganache 7.9.2 in batches of 200, gas
from the receipts divided by readings. One slot in four is each meter's first reading.
"""

if __name__ == "__main__":
    main()
