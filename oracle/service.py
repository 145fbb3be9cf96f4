"""`gridshare oracle run`: the relay. It sends the signed readings the meter signers queued in
the outbox to MeterReadings, as the oracle account, and holds no meter key (it never imports
oracle.meter): it can drop a reading but not forge, alter or replay one.

Each pass relays every pending reading whose slot has ended on-chain, then waits
`oracle_poll_seconds`. Killing the process at any point loses nothing: see oracle/outbox.py and
oracle/relay.py.
"""

from __future__ import annotations

import logging
import time

from chain.calendar import read_calendar
from chain.node import Node, NodeError, oracle_sender
from gridshare.settings import Settings
from oracle.outbox import open_outbox
from oracle.relay import Relay, RelayStats
from oracle.stats import accumulate

log = logging.getLogger(__name__)


def build(settings: Settings, network: str) -> tuple[Node, Relay]:
    """The relay for `network`, from settings: the node, the outbox and the oracle account."""
    node = Node.from_settings(network, settings)
    engine = open_outbox(settings.oracle_db_url)
    relay = Relay(
        engine,
        node,
        oracle_sender(settings),
        read_calendar(node),
        settings.oracle_batch_size,
        settings.oracle_batch_gas,
    )
    return node, relay


def run(settings: Settings, network: str, *, once: bool) -> RelayStats:
    """Relay the outbox. With `once`, stop after the first pass that reaches the chain (every
    reading whose slot has ended on-chain sent); otherwise pass again forever."""
    node, relay = build(settings, network)
    total = RelayStats()
    log.info("oracle relay on %s (chain %d)", node.url, node.manifest.chain_id)
    while True:
        try:
            accumulate(total, relay.run_once())
        except NodeError as exc:
            log.error("relay pass failed, retrying: %s", exc)
        else:
            if once:
                return total
        time.sleep(settings.oracle_poll_seconds)
