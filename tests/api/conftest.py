"""The API tests run against the shared harness (tests/apiserver.py): real ganache, real HTTP."""

from tests.apiserver import (
    MATCHER_ACCOUNT,
    base_url,
    chain,
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
