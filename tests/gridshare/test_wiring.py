"""gridshare.wiring builds the node and each service from settings, with the configured values:
each service is built here on a real dev chain from settings that differ from every default,
and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from chain.calendar import read_calendar
from chain.devchain import DevChain
from chain.node import Node, NodeError
from gridshare import wiring
from gridshare.settings import Settings
from intents.pool import IntentPool
from matcher.intents import IntentStep

ORACLE, MATCHER = 1, 2


@pytest.fixture
def settings(chain: DevChain, tmp_path: Path) -> Settings:
    """Settings with every value the wiring reads set away from its default."""
    probe = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
    accounts = [str(a) for a in probe.w3.eth.accounts]
    return Settings(
        deployments_dir=chain.deployments_dir,
        matcher=accounts[MATCHER],
        oracle=accounts[ORACLE],
        rpc_retry_initial_seconds=0.05,
        rpc_retry_max_seconds=0.2,
        imbalance_batch_gas=4_321_000,
        imbalance_carry_slots=3,
        intent_pool_url=f"sqlite:///{tmp_path / 'intents.db'}",
        index_db_url=f"sqlite:///{tmp_path / 'index.db'}",
        index_batch_blocks=77,
        index_confirmations=5,
        oracle_db_url=f"sqlite:///{tmp_path / 'outbox.db'}",
        oracle_batch_size=17,
        oracle_batch_gas=3_000_000,
        api_rpc_retry_limit=4,
        api_rpc_retry_initial_seconds=0.01,
        api_rpc_retry_max_seconds=0.03,
        audit_rpc_retry_limit=6,
        api_read_only=True,
    )


def database(engine: Engine) -> str | None:
    return engine.url.database


def test_the_node_keeps_retrying_and_a_one_shot_node_gives_up(
    chain: DevChain, settings: Settings
) -> None:
    node = wiring.node(settings, chain.network_id)
    assert node.manifest.chain_id == node.w3.eth.chain_id
    assert (node.retry.limit, node.retry.initial_seconds, node.retry.max_seconds) == (0, 0.05, 0.2)
    assert wiring.one_shot_node(settings, chain.network_id).retry.limit == 6


def test_the_api_node_has_the_apis_bounded_retries(chain: DevChain, settings: Settings) -> None:
    retry = wiring.api_node(settings, chain.network_id).retry
    assert (retry.limit, retry.initial_seconds, retry.max_seconds) == (4, 0.01, 0.03)


def test_the_matcher_has_its_account_pool_and_imbalance_budget(
    chain: DevChain, settings: Settings
) -> None:
    matcher = wiring.matcher(settings, chain.network_id)
    assert matcher.sender.address == settings.matcher
    assert (matcher.imbalance_batch_gas, matcher.imbalance_carry_slots) == (4_321_000, 3)
    assert isinstance(matcher.intents, IntentStep)
    assert isinstance(matcher.intents.pool, IntentPool)
    assert str(matcher.intents.pool.engine.url) == settings.intent_pool_url


def test_the_matcher_needs_its_account(chain: DevChain, settings: Settings) -> None:
    unset = settings.model_copy(update={"matcher": None})
    with pytest.raises(NodeError, match="set GRIDSHARE_MATCHER_KEY"):
        wiring.matcher(unset, chain.network_id)


def test_the_indexer_has_its_database_batches_and_confirmations(
    chain: DevChain, settings: Settings, tmp_path: Path
) -> None:
    indexer = wiring.indexer(settings, chain.network_id)
    assert (indexer.batch_blocks, indexer.confirmations) == (77, 5)
    assert database(indexer.engine) == str(tmp_path / "index.db")


def test_the_relay_has_its_outbox_account_calendar_and_batches(
    chain: DevChain, settings: Settings, tmp_path: Path
) -> None:
    relay = wiring.relay(settings, chain.network_id)
    assert relay.sender.address == settings.oracle
    assert database(relay.engine) == str(tmp_path / "outbox.db")
    assert relay.calendar == read_calendar(relay.node)
    assert (relay.span_batch_size, relay.batch_gas) == (17, 3_000_000)


def test_the_relay_needs_its_account(chain: DevChain, settings: Settings) -> None:
    with pytest.raises(NodeError, match="set GRIDSHARE_ORACLE_KEY"):
        wiring.relay(settings.model_copy(update={"oracle": None}), chain.network_id)


def test_the_api_app_reads_the_index_of_its_settings(
    chain: DevChain, settings: Settings, tmp_path: Path
) -> None:
    app = wiring.api_app(settings, chain.network_id)
    assert app.state.settings is settings
    assert database(app.state.engine) == str(tmp_path / "index.db")
    assert app.state.view.node.retry.limit == 4  # the API's own node
    app.state.pool.close()


def test_options_replace_only_the_settings_they_name() -> None:
    settings = Settings(index_batch_blocks=10, index_confirmations=2)
    given = settings.with_options(index_batch_blocks=20, index_confirmations=None, api_port=9)
    assert (given.index_batch_blocks, given.index_confirmations, given.api_port) == (20, 2, 9)
    with pytest.raises(ValueError, match="no such setting: index_batch"):
        settings.with_options(index_batch=20)
