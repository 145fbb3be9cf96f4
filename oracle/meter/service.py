"""`gridshare meter run`: one meter's signer, where the meter is.

The source is read on its own thread into a queue (a serial port or a TCP dongle blocks); the
main loop takes what has arrived (at most `chunk` items) into the outbox in one transaction
(checked, interpolated to slot energy, signed with the meter's key), and repeats. Killing the
process at any point loses nothing: see oracle/meter/ingest.py and oracle/outbox.py. The node is
only read (the calendar, the readings domain, the reading deadline, the chain's time): a signer
sends no transaction.

Readings are signed per span of `meter_span_slots` slots (0: the longest the deployment allows,
at most a day). A span's first slot waits for the span's last before it is signed, so a span
may be no longer than the imbalance settlement's reading deadline: a slot whose reading comes
later settles without it. A longer span is refused at start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

from chain.calendar import read_calendar
from chain.gateway import ReadingsGateway, period_ledger
from chain.node import Node
from gridshare.settings import Settings
from oracle.meter.ingest import Ingest, IngestStats
from oracle.meter.keys import MeterKeyError, read_key
from oracle.meter.signing import Domain, MeterSigner
from oracle.outbox import open_outbox
from oracle.samples import SourceItem
from oracle.slots import Limits
from oracle.sources import open_source
from oracle.stats import accumulate

log = logging.getLogger(__name__)
_END = object()


class SpanError(ValueError):
    """The configured span cannot reach the chain before the reading deadline."""


def span_slots(setting: int, slot_seconds: int, deadline_seconds: int) -> int:
    """The span a meter signs: `setting` slots (0: as many as the reading deadline allows, at
    most a day, at least one). Refuses a span whose first reading would miss the deadline."""
    if setting < 0:
        raise SpanError(f"meter_span_slots must be 0 (automatic) or more, not {setting}")
    fits = max(1, deadline_seconds // slot_seconds)
    if setting == 0:
        return min(fits, max(1, 86_400 // slot_seconds))
    if setting > fits:
        raise SpanError(
            f"a span of {setting} slots of {slot_seconds} s is longer than the reading deadline "
            f"({deadline_seconds} s, ImbalanceSettlement.readingDeadlineSeconds): its first "
            f"readings would settle without them; use at most {fits} (or 0, automatic)"
        )
    return setting


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


def build(settings: Settings, network: str, meter: str) -> tuple[Node, Ingest, ChainClock]:
    """The signer of `meter` on `network`, from settings (its keystore, the outbox)."""
    if settings.meter_key_password is None:
        raise MeterKeyError("set GRIDSHARE_METER_KEY_PASSWORD (opens the meter's keystore)")
    key = read_key(
        settings.meter_keystore_dir, meter, settings.meter_key_password.get_secret_value()
    )
    node = Node.from_settings(network, settings)
    domain = Domain(node.manifest.chain_id, ReadingsGateway(node).address)
    rating = settings.oracle_meter_ratings.get(meter, settings.oracle_meter_rating_w)
    limits = Limits(rating_w=rating, max_future_seconds=settings.oracle_max_future_seconds)
    clock = ChainClock(node)
    clock.refresh()
    calendar = read_calendar(node)
    deadline = period_ledger(node).reading_deadline_seconds()  # either mode's meter settlement
    span = span_slots(settings.meter_span_slots, calendar.slot_seconds, deadline)
    ingest = Ingest(
        open_outbox(settings.oracle_db_url),
        MeterSigner(meter, key, domain),
        calendar,
        limits,
        clock,
        span,
    )
    return node, ingest, clock


def _reader(items: Iterator[SourceItem], out: queue.Queue[object]) -> None:
    try:
        for item in items:
            out.put(item)
    except Exception as exc:  # a dead source must stop the service loudly, not hang it
        log.exception("source failed")
        out.put(exc)
    out.put(_END)


def run(
    settings: Settings, network: str, meter: str, source: str, *, once: bool, chunk: int = 500
) -> IngestStats:
    """Sign `meter`'s readings from `source` into the outbox. With `once`, stop when the source
    is exhausted; otherwise follow the source forever."""
    node, ingest, clock = build(settings, network, meter)
    items = open_source(source, dsmr_version=settings.oracle_dsmr_version)
    inbox: queue.Queue[object] = queue.Queue(maxsize=10 * chunk)
    threading.Thread(target=_reader, args=(items, inbox), daemon=True).start()
    total = IngestStats()
    ended = False
    log.info(
        "meter %s (signer %s) on chain %d reading %s, signing spans of %d slot(s)",
        meter,
        ingest.signer.address,
        node.manifest.chain_id,
        source,
        ingest.span_slots,
    )
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
        if taken:
            clock.refresh()
            accumulate(total, ingest.run(source, taken, chunk))
        if once and ended and inbox.empty():
            flushed = ingest.flush()
            if flushed:
                total.readings += flushed
                total.spans += 1
            return total
