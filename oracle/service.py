"""`gridshare oracle run`: the relay. It sends the signed readings the meter signers queued in
the outbox to MeterReadings, as the oracle account, and holds no meter key (it never imports
oracle.meter): it can drop a reading but not forge, alter or replay one.

Each pass relays every pending reading whose slot has ended on-chain, then waits
`oracle_poll_seconds`. Killing the process at any point loses nothing: see oracle/outbox.py and
oracle/relay.py. The relay is built from settings by gridshare.wiring.relay.
"""

from __future__ import annotations

import logging
import time

from chain.node import NodeError
from oracle.relay import Relay, RelayStats
from oracle.stats import accumulate

log = logging.getLogger(__name__)


def run(relay: Relay, poll_seconds: float, *, once: bool) -> RelayStats:
    """Relay the outbox (`relay`, as gridshare.wiring.relay builds it from settings). With
    `once`, stop after the first pass that reaches the chain (every reading whose slot has ended
    on-chain sent); otherwise pass again forever, `poll_seconds` apart."""
    total = RelayStats()
    log.info("oracle relay on %s (chain %d)", relay.node.url, relay.node.manifest.chain_id)
    while True:
        try:
            accumulate(total, relay.run_once())
        except NodeError as exc:
            log.error("relay pass failed, retrying: %s", exc)
        else:
            if once:
                return total
        time.sleep(poll_seconds)
