"""The API tests run against the shared harness (tests/apiserver.py): a real local chain, real
HTTP."""

from tests.apiserver import (
    MATCHER_ACCOUNT,
    base_url,
    chain,
    chain_node,
    client,
    dso,
    grant,
    members,
    new_member,
    node,
    port,
    schema_path,
    settings,
)

__all__ = [
    "MATCHER_ACCOUNT",
    "base_url",
    "chain",
    "chain_node",
    "client",
    "dso",
    "grant",
    "members",
    "new_member",
    "node",
    "port",
    "schema_path",
    "settings",
]
