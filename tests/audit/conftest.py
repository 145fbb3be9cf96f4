"""The audit's real chain: the recorded scenario (tests/audit/scenario.py) run live on a private
ganache (free port, never 8545/8546), deployed by scripts/deploy.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.devchain import DevChain
from chain.node import Node
from tests.audit.scenario import run_scenario, scenario_chain


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevChain, Node]]:
    with scenario_chain(tmp_path_factory.mktemp("deployments")) as chain:
        yield chain, run_scenario(chain)
