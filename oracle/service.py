"""`gridshare oracle run`: read a meter source, queue signed readings, relay them.

The source is read on its own thread into a queue (a serial port or a TCP dongle blocks); the
main loop takes what has arrived (at most `chunk` items) into the outbox in one transaction, then
relays every pending reading whose slot has ended on-chain, and repeats. Killing the process at
any point loses nothing: see oracle/outbox.py and oracle/relay.py.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from chain.node import Node, NodeError, oracle_sender
from gridshare.settings import Settings
from matcher.calendar import read_calendar
from oracle.keys import MeterKeys
from oracle.outbox import open_outbox
from oracle.pipeline import Domain, Ingest, IngestStats
from oracle.relay import Relay, RelayStats
from oracle.samples import SourceItem
from oracle.slots import Limits
from oracle.sources import open_source

log = logging.getLogger(__name__)
_END = object()


@dataclass
class RunStats:
    ingest: IngestStats
    relay: RelayStats


class ChainClock:
    """'Now' for plausibility checks: the later of the host clock and the chain's latest block
    (development chains run ahead of the host when time is moved), refreshed once per pass."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.now = int(time.time())

    def refresh(self) -> None:
        self.now = max(int(time.time()), self.node.block_timestamp())

    def __call__(self) -> int:
        return self.now


def build(settings: Settings, network: str) -> tuple[Node, Ingest, Relay, ChainClock]:
    """The oracle's parts for `network`, from settings."""
    if settings.meter_key_password is None:
        raise NodeError("set GRIDSHARE_METER_KEY_PASSWORD (opens the meter keystores)")
    node = Node.from_settings(network, settings)
    engine = open_outbox(settings.oracle_db_url)
    keys = MeterKeys(settings.oracle_keystore_dir, settings.meter_key_password.get_secret_value())
    calendar = read_calendar(node)
    clock = ChainClock(node)
    clock.refresh()

    def limits(meter: str) -> Limits:
        rating = settings.oracle_meter_ratings.get(meter, settings.oracle_meter_rating_w)
        return Limits(rating_w=rating, max_future_seconds=settings.oracle_max_future_seconds)

    domain = Domain(node.manifest.chain_id, node.contract("MeterReadings").address)
    ingest = Ingest(engine, keys, calendar, domain, limits, clock)
    relay = Relay(engine, node, oracle_sender(settings), calendar, settings.oracle_batch_size)
    return node, ingest, relay, clock


def _reader(items: Iterator[SourceItem], out: queue.Queue[object]) -> None:
    try:
        for item in items:
            out.put(item)
    except Exception as exc:  # a dead source must stop the service loudly, not hang it
        log.exception("source failed")
        out.put(exc)
    out.put(_END)


def run(settings: Settings, network: str, source: str, *, once: bool, chunk: int = 500) -> RunStats:
    """Run the oracle on `source`. With `once`, stop when the source is exhausted and every
    reading whose slot has ended on-chain is relayed; otherwise follow the source forever."""
    node, ingest, relay, clock = build(settings, network)
    items = open_source(source, dsmr_version=settings.oracle_dsmr_version)
    inbox: queue.Queue[object] = queue.Queue(maxsize=10 * chunk)
    threading.Thread(target=_reader, args=(items, inbox), daemon=True).start()
    total = RunStats(IngestStats(), RelayStats())
    ended = False
    log.info("oracle on %s (chain %d) reading %s", node.url, node.manifest.chain_id, source)
    while True:
        taken: list[SourceItem] = []
        deadline = time.monotonic() + settings.oracle_poll_seconds
        while len(taken) < chunk and not ended:
            try:
                got = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if got is _END:
                ended = True
            elif isinstance(got, Exception):
                raise got
            else:
                assert isinstance(got, SourceItem)
                taken.append(got)
        clock.refresh()
        if taken:
            _add(total.ingest, ingest.run(source, taken, chunk))
        try:
            _add(total.relay, relay.run_once())
        except NodeError as exc:
            log.error("relay pass failed, retrying: %s", exc)
        if once and ended and inbox.empty():
            return total


def _add(total: object, part: object) -> None:
    for name, value in vars(part).items():
        if isinstance(value, int):
            setattr(total, name, getattr(total, name) + value)
        elif isinstance(value, dict):
            merged = getattr(total, name)
            for k, v in value.items():
                merged[k] = merged.get(k, 0) + v
