"""Brownie on a local anvil: wait for a transaction's receipt before brownie's own confirmation.

anvil (1.7.1) mines an automined transaction in two steps: the sender's nonce at "latest" moves on a
moment before the receipt can be read. Brownie takes "nonce moved, no receipt" for a dropped
transaction ("Tx dropped without known replacement"); on a loaded 2-core machine about 2 in 1,000
sends hit that window (measured with a send / nonce / receipt loop on anvil with both cores busy).
Every transaction on a development chain is mined, reverted or not, so the receipt is awaited first
(up to RECEIPT_WAIT_S) and brownie's own check runs after it. Public networks keep brownie's
behaviour: there a transaction can really be dropped.
"""

from __future__ import annotations

import time
from typing import Any

from brownie import web3
from brownie.network.transaction import TransactionReceipt
from web3.exceptions import TransactionNotFound

RECEIPT_WAIT_S = 30.0
_brownie_await_confirmation = TransactionReceipt._await_confirmation


def _await_receipt_then_confirm(
    self: Any, block_number: int | None = None, required_confs: int = 1
) -> None:
    deadline = time.monotonic() + RECEIPT_WAIT_S
    while time.monotonic() < deadline:
        try:
            if web3.eth.get_transaction_receipt(self.txid)["blockHash"] is not None:
                break
        except TransactionNotFound:
            pass
        time.sleep(0.02)
    _brownie_await_confirmation(self, block_number, required_confs)


def await_receipts_first() -> None:
    """Make brownie read a transaction's receipt before it decides the transaction was dropped."""
    TransactionReceipt._await_confirmation = _await_receipt_then_confirm
