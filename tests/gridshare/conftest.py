"""One real ganache for the wiring tests (free port), deployed by scripts/deploy.py."""

from __future__ import annotations

from tests.fixtures import chain, chain_node  # noqa: F401
