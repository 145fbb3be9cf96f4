"""The full audit (`gridshare audit`) as a job the API runs for auditors and the DSO, one at a
time, in a thread of its own: it takes 10-25 s on a community's day, so a page must be able to
show how far it has come and, meanwhile, the last result.

A run audits the head block as it was when the run started. Its phase (reading events, reading
balances, checking) and elapsed time are readable while it runs; the last finished report stays
(with the block it audited) after the chain moves on, and so does the last failure's message.
GET /audit/report waits for a run at the head (starting one unless the last finished run is
already at the head or a run is under way); GET /audit/progress reads where things are without
starting or waiting for anything.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from api.view import ChainView
from audit.checks import audit
from audit.fetch import fetch_events, fetch_state

log = logging.getLogger("api.audit")
Phase = Literal["reading events", "reading balances", "checking", "done", "failed"]


@dataclass
class AuditRun:
    block: int
    started_at: float  # unix seconds
    started: float = field(default_factory=time.monotonic)
    phase: Phase = "reading events"
    events_read: int | None = None
    finished_at: float | None = None
    seconds: float | None = None
    report: dict[str, Any] | None = None
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def elapsed_ms(self) -> int:
        if self.seconds is not None:
            return round(self.seconds * 1000)
        return round((time.monotonic() - self.started) * 1000)


class AuditJobs:
    """The audit runs of one API process: the one under way and the last finished ones."""

    def __init__(self, view: ChainView) -> None:
        self.view = view
        self._lock = threading.Lock()
        self.running: AuditRun | None = None
        self.last: AuditRun | None = None  # the last run that produced a report
        self.last_failed: AuditRun | None = None  # the last run that failed, if after `last`

    def start(self) -> AuditRun:
        """The run under way, else the last report if it is at the head, else a new run."""
        with self._lock:
            if self.running is not None:
                return self.running
            if self.last is not None and self.last.block == self.view.head:
                return self.last
            run = AuditRun(block=self.view.head, started_at=time.time())
            self.running = run
        threading.Thread(target=self._run, args=(run,), name="api-audit", daemon=True).start()
        return run

    def _run(self, run: AuditRun) -> None:
        node = self.view.node
        try:
            events = fetch_events(node, run.block, self.view.audit_batch_blocks)
            run.events_read, run.phase = len(events), "reading balances"
            state = fetch_state(node, events, run.block)
            run.phase = "checking"
            run.report = audit(events, state).to_json()
            run.phase = "done"
        except Exception as exc:  # the node went away, most likely: the next run tries again
            log.warning("audit at block %d failed: %s", run.block, exc)
            run.error, run.phase = exc, "failed"
        run.seconds = time.monotonic() - run.started
        run.finished_at = time.time()
        with self._lock:
            self.running = None
            if run.report is not None:
                self.last, self.last_failed = run, None
            else:
                self.last_failed = run
        run.done.set()
