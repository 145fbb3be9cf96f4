"""Driving the test chain: members, top-ups, orders and time, all through chain.node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.logs import DISCARD

from chain.codec import ROLE_CODES, SIDE_CODES
from chain.devchain import close_gate
from chain.node import Node, Sender

EUR = 10**9  # n€ per €
# Roles of the accounts of mnemonic "gridshare" (scripts/deploy.py on a development chain).
DSO, ORACLE, MATCHER, FEE, NETWORK = range(5)
MEMBERS = range(6, 20)


class ContractCalls:
    """A web3 contract seen as brownie-style callables (`c.slotBook(slot)`), so that
    tests/contracts/helpers.clear_on_chain_book can read the same chain."""

    def __init__(self, node: Node, name: str) -> None:
        self._node = node
        self._contract = node.contract(name)

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self._node.call(self._contract.functions[name](*args))


@dataclass
class Market:
    """The DSO and members acting on the deployment `node` points at."""

    node: Node

    @property
    def accounts(self) -> list[str]:
        return [str(a) for a in self.node.w3.eth.accounts]

    def sender(self, index: int) -> Sender:
        return Sender(self.accounts[index])

    def dso_call(self, contract: str, fn: str, *args: Any) -> None:
        self.node.transact(self.node.contract(contract).functions[fn](*args), self.sender(DSO))

    def add_members(self, indices: range, top_up: int) -> None:
        for i in indices:
            member = self.accounts[i]
            self.dso_call("Community", "registerMember", member, ROLE_CODES["prosumer"], 0)
            ref = f"matcher-test-{i}".encode().ljust(32, b"\0")
            self.dso_call("EnergyToken", "topUp", member, top_up, ref)

    def place(self, member: int, slot: int, side: str, energy_wh: int, price: int) -> int:
        """Place an order from account `member`; returns its id."""
        book = self.node.contract("OrderBook")
        receipt = self.node.transact(
            book.functions.placeOrder(slot, SIDE_CODES[side], energy_wh, price),
            self.sender(member),
        )
        (event,) = book.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["id"])

    def balance(self, account: str) -> int:
        token = self.node.contract("EnergyToken")
        return int(self.node.call(token.functions.balanceOf(account)))

    def now(self) -> int:
        return self.node.block_timestamp()

    def current_slot(self) -> int:
        return int(self.node.call(self.node.contract("Community").functions.currentSlot()))

    def open_slot(self) -> int:
        """The first slot still accepting orders."""
        community = self.node.contract("Community").functions
        slot = self.current_slot() + 1
        while int(self.node.call(community.gateClosure(slot))) <= self.now():
            slot += 1
        return slot

    def close_gate(self, slot: int) -> None:
        close_gate(self.node, slot)

    def settled_events(self, from_block: int) -> list[dict[str, Any]]:
        """SlotSettled events from `from_block` on, in chain order."""
        settlement = self.node.contract("Settlement")
        logs = settlement.events.SlotSettled().get_logs(from_block=from_block)
        return [dict(log["args"]) for log in logs]
