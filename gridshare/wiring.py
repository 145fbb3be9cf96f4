"""The wiring: from settings and a network id, the node and each long-running service, built one
way for every command (gridshare/cli/). The services' constructors take explicit values (tests,
the simulation and the benchmarks build them directly); only here are those values read from
settings. A command that lets an option override a setting passes settings with it replaced.

It sits between the command line and the services (docs/map.md, "The packages"): nothing below
imports it. It never builds the meter side (oracle/meter/service.py, where a meter's key is
read): the relay's command wires through here and holds no meter key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chain.calendar import read_calendar
from chain.node import Node, matcher_sender, oracle_sender
from gridshare.settings import Settings
from indexer.migrate import make_engine
from indexer.service import Indexer
from intents.pool import IntentPool
from matcher.service import Matcher
from oracle.outbox import open_outbox
from oracle.relay import Relay

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine


def node(settings: Settings, network: str) -> Node:
    """The node of a long-running service: it retries an unreachable node as settings.rpc_*
    say (by default for ever)."""
    return Node.from_settings(network, settings)


def one_shot_node(settings: Settings, network: str) -> Node:
    """The node of a one-shot command (the audit, an export): it gives up on an unreachable
    node instead of hanging (Settings.one_shot)."""
    return Node.from_settings(network, settings.one_shot())


def api_node(settings: Settings, network: str) -> Node:
    """The node as the API uses it: bounded retries and a short request timeout
    (settings.api_rpc_*), so that a request answers 503 soon after the node goes away and no
    retry loop outlives a shutdown. The services keep their own patient policy (rpc_*)."""
    return Node.from_settings(
        network,
        settings.model_copy(
            update={
                "rpc_timeout_seconds": settings.api_rpc_timeout_seconds,
                "rpc_retry_limit": settings.api_rpc_retry_limit,
                "rpc_retry_initial_seconds": settings.api_rpc_retry_initial_seconds,
                "rpc_retry_max_seconds": settings.api_rpc_retry_max_seconds,
            }
        ),
    )


def index_engine(settings: Settings) -> Engine:
    """The event index's database (settings.index_db_url)."""
    return make_engine(settings.index_db_url)


def outbox(settings: Settings) -> Engine:
    """The oracle's outbox (settings.oracle_db_url): the meter signers' readings, queued for
    the relay."""
    return open_outbox(settings.oracle_db_url)


def matcher(settings: Settings, network: str) -> Matcher:
    """The matcher: its account, the intent pool, and the imbalance batches' gas budget and
    carry slots."""
    return Matcher(
        node(settings, network),
        matcher_sender(settings),
        IntentPool(settings.intent_pool_url),
        imbalance_batch_gas=settings.imbalance_batch_gas,
        imbalance_carry_slots=settings.imbalance_carry_slots,
    )


def indexer(settings: Settings, network: str) -> Indexer:
    """The event indexer into settings.index_db_url, in batches of settings.index_batch_blocks
    blocks, settings.index_confirmations behind the head."""
    return Indexer(
        node(settings, network),
        index_engine(settings),
        batch_blocks=settings.index_batch_blocks,
        confirmations=settings.index_confirmations,
    )


def relay(settings: Settings, network: str) -> Relay:
    """The oracle's relay: the outbox, the oracle account, the deployment's calendar (read from
    the chain) and the batches' size and gas budget."""
    chain = node(settings, network)
    return Relay(
        outbox(settings),
        chain,
        oracle_sender(settings),
        read_calendar(chain),
        settings.oracle_batch_size,
        settings.oracle_batch_gas,
    )


def api_app(settings: Settings, network: str) -> FastAPI:
    """The wallet API on its own node (api_node). Raises NodeError when the node or the
    deployment is not there and DevHelperRefused when the dev sign-in helper is asked for off a
    development chain; the command checks the write accounts (missing_write_accounts) first."""
    from api.main import create_app  # FastAPI and the routes load for the API's command only

    return create_app(settings, api_node(settings, network))
