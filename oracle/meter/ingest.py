"""The meter signer's intake: check source items, derive slot energy, sign, queue for the relay.

Every item ends in exactly one place, in one database transaction per chunk: a signed reading
per completed slot in the outbox's `readings` (the relay's intake), the reason in `quarantine`,
or (an exact repeat of the meter's last sample) nowhere, with a debug log line. Items a
replayable source delivered before the stored cursor were taken by an earlier run and are
skipped. A signer holds one meter's key: a sample of any other meter is quarantined as unknown.

With `span_slots` > 1 a completed slot is not signed alone: it waits in `open_readings` (in the
same transaction as the track that produced it) until its span is complete, then the span is
signed once into `spans` and its open slots are dropped, again in one transaction. Spans are
aligned to the calendar (slot // span_slots: with 48 half-hour slots and a midnight genesis, a
calendar day); a gap in the slots closes a span early, and `flush` signs what is open (the end
of a finite source).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from sqlalchemy import Engine

from market.calendar import Calendar
from oracle import outbox
from oracle.meter.signing import MeterSigner
from oracle.samples import MeterNameError, Rejected, Sample, SourceItem, meter_id
from oracle.slots import Limits, MeterTrack, SlotEnergy, advance, check

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    items: int = 0
    samples: int = 0
    readings: int = 0
    """Slot readings signed (alone or in a span)."""
    spans: int = 0
    quarantined: int = 0
    skipped: int = 0  # already taken by an earlier run (replayable sources)
    repeats: int = 0  # exact repeats of a meter's last sample
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False)
class Ingest:
    """Turns source items into readings signed by `signer`'s meter, queued in the outbox."""

    engine: Engine
    signer: MeterSigner
    calendar: Calendar
    limits: Limits
    clock: Callable[[], int]
    span_slots: int = 1
    _tracks: dict[str, MeterTrack] = field(init=False)
    _open: list[SlotEnergy] = field(init=False)

    def __post_init__(self) -> None:
        if self.span_slots < 1:
            raise ValueError(f"span_slots must be at least 1, not {self.span_slots}")
        with self.engine.connect() as conn:
            self._tracks = outbox.load_tracks(conn)
            self._open = outbox.open_readings_of(conn, self.signer.meter)

    def _spans(
        self, open_: list[SlotEnergy], completed: list[SlotEnergy]
    ) -> tuple[list[SlotEnergy], list[dict[str, object]]]:
        """`completed` slots added to the open ones: the spans they complete (signed) and what
        stays open."""
        signed: list[dict[str, object]] = []
        for energy in completed:
            if open_ and energy.slot != open_[-1].slot + 1:
                signed.append(self.signer.sign_span(open_))
                open_ = []
            open_.append(energy)
            if (energy.slot + 1) % self.span_slots == 0:
                signed.append(self.signer.sign_span(open_))
                open_ = []
        return open_, signed

    def flush(self) -> int:
        """Sign the open slots as one span now (a finite source has ended); the slots signed."""
        if not self._open:
            return 0
        row = self.signer.sign_span(self._open)
        with self.engine.begin() as conn:
            outbox.add_spans(conn, [row])
            outbox.replace_open_readings(conn, self.signer.meter, [])
        count, self._open = len(self._open), []
        return count

    def run(self, source: str, items: Iterable[SourceItem], chunk: int = 500) -> IngestStats:
        """Take every item of `source`, `chunk` items per transaction. The source's cursor is
        kept per meter (`<meter>@<source>`): signers of several meters may read one file."""
        stats = IngestStats()
        cursor_name = f"{self.signer.meter}@{source}"
        with self.engine.connect() as conn:
            cursor = outbox.cursor_of(conn, cursor_name)
        has_cursor = cursor > 0
        iterator: Iterator[SourceItem] = iter(items)
        while batch := list(islice(iterator, chunk)):
            fresh = [it for it in batch if it.position is None or it.position > cursor]
            stats.skipped += len(batch) - len(fresh)
            stats.items += len(batch)
            if not fresh:
                continue
            last_position = max(
                (it.position for it in fresh if it.position is not None), default=None
            )
            tracks = dict(self._tracks)
            new_meters: set[str] = set()
            completed: list[SlotEnergy] = []
            rejected: list[dict[str, object]] = []
            for it in fresh:
                self._take(source, it, tracks, new_meters, completed, rejected, stats)
            rows: list[dict[str, object]] = []
            spans: list[dict[str, object]] = []
            open_ = self._open
            if self.span_slots == 1:
                rows = [self.signer.sign(energy) for energy in completed]
            elif completed:
                open_, spans = self._spans(list(self._open), completed)
            with self.engine.begin() as conn:
                outbox.add_readings(conn, rows)
                outbox.add_spans(conn, spans)
                if open_ is not self._open:
                    outbox.replace_open_readings(conn, self.signer.meter, open_)
                outbox.add_quarantine(conn, rejected)
                for meter, track in tracks.items():
                    if track is not self._tracks.get(meter):
                        outbox.save_track(conn, track, meter in new_meters)
                if last_position is not None:
                    outbox.save_cursor(conn, cursor_name, last_position, not has_cursor)
                    has_cursor, cursor = True, last_position
            self._tracks = tracks
            self._open = open_
            stats.readings += len(rows) + sum(int(str(r["slots"])) for r in spans)
            stats.spans += len(spans)
            stats.quarantined += len(rejected)
            for r in rejected:
                log.warning(
                    "quarantined %s item %s (meter %s): %s",
                    source,
                    r["position"],
                    r["meter"],
                    r["reason"],
                )
        return stats

    def _take(
        self,
        source: str,
        it: SourceItem,
        tracks: dict[str, MeterTrack],
        new_meters: set[str],
        completed: list[SlotEnergy],
        rejected: list[dict[str, object]],
        stats: IngestStats,
    ) -> None:
        item = it.item
        reason: str | None
        if isinstance(item, Rejected):
            reason = item.reason
        else:
            stats.samples += 1
            reason = self._reason(item, tracks.get(item.meter))
        if reason is not None:
            kind = reason.split(":")[0].split(" (")[0]
            stats.by_reason[kind] = stats.by_reason.get(kind, 0) + 1
            rejected.append(_quarantine_row(source, it, reason))
            return
        assert isinstance(item, Sample)
        track = tracks.get(item.meter)
        if track is not None and track.last == item:
            stats.repeats += 1
            log.debug("meter %s repeated its sample at %d", item.meter, item.timestamp)
            return
        if track is None:
            new_meters.add(item.meter)
        tracks[item.meter], done = advance(track, item, self.calendar)
        completed.extend(done)

    def _reason(self, sample: Sample, track: MeterTrack | None) -> str | None:
        try:
            meter_id(sample.meter)
        except MeterNameError as exc:
            return f"unknown meter: {exc}"
        if sample.meter != self.signer.meter:
            return (
                f"unknown meter: {sample.meter} (this signer holds meter {self.signer.meter}'s key)"
            )
        return check(track, sample, self.clock(), self.limits)


def _quarantine_row(source: str, it: SourceItem, reason: str) -> dict[str, object]:
    item = it.item
    if isinstance(item, Rejected):
        meter, timestamp, raw = item.meter, item.timestamp, item.raw
    else:
        meter, timestamp = item.meter, item.timestamp
        raw = f"{item.timestamp},{item.meter},{item.import_wh},{item.export_wh}"
    return {
        "source": source,
        "position": it.position,
        "meter": meter,
        "timestamp": timestamp,
        "slot": None,
        "reason": reason,
        "raw": raw,
    }
