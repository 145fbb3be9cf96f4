"""`storage_words` on a real anvil (chain/devchain.py): what bench/year.py reports as the state its
run left, and why dropping records would not make anvil's blocks cheaper (bench/anvil_state.py):
a word written back to zero stays in anvil's state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils.address import to_checksum_address

from chain.devchain import bare_node, free_port, start_ganache, stop_process, storage_words
from chain.node import Node

HOLDER = "0x" + "11" * 20


@pytest.fixture
def anvil() -> Iterator[Node]:
    port = free_port()
    process = start_ganache(port, "anvil")
    try:
        yield bare_node(port)
    finally:
        stop_process(process, timeout=10)


def _store(node: Node, key: int, value: int) -> None:
    node.make_request("anvil_setStorageAt", [HOLDER, hex(key), f"0x{value:064x}"])


def test_storage_words_counts_each_account_and_keeps_zeroed_words(anvil: Node) -> None:
    holder = to_checksum_address(HOLDER)
    assert storage_words(anvil).get(holder, 0) == 0
    for key in range(3):
        _store(anvil, key, key + 1)
    anvil.make_request("evm_mine", [])
    assert storage_words(anvil)[holder] == 3
    _store(anvil, 1, 0)
    anvil.make_request("evm_mine", [])
    assert int(anvil.make_request("eth_getStorageAt", [HOLDER, "0x1", "latest"]), 16) == 0
    assert storage_words(anvil)[holder] == 3
