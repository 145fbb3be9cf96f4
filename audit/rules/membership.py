"""Membership (Community, Membership): the DSO and supply accounts, members, their roles and
chunks, and exits: an exit returns the cancelled orders' escrow and charges the configured
penalty."""

from __future__ import annotations

from audit.model import Event
from audit.rules.core import AuditState

RULES: dict[str, str] = {
    "chunks": "chunks open in order and members join open chunks (each registration's chunk is "
    "fixed by its number)",
    "exit": "an exit returns the cancelled orders' escrow and charges the configured penalty",
}


class MembershipRules(AuditState):
    def on_DsoAccountsSet(self, e: Event) -> None:
        self.fee_account = e.args["feeAccount"]
        self.network_account = e.args["networkAccount"]

    def on_SupplyAccountSet(self, e: Event) -> None:
        self.supply_account = e.args["supplyAccount"]

    def on_ExitPenaltySet(self, e: Event) -> None:
        self.exit_penalty = int(e.args["penalty"])

    def on_MemberRegistered(self, e: Event) -> None:
        member, chunk = e.args["member"], int(e.args["chunk"])
        self.members.add(member)
        self.roles[member] = int(e.args["role"])
        if chunk not in self.chunk_from:
            self.find(None, "chunks", f"{member} registered in chunk {chunk}, which is not open")
        self.member_chunk[member] = chunk

    def on_ChunkOpened(self, e: Event) -> None:
        chunk, first = int(e.args["chunk"]), int(e.args["fromSlot"])
        if chunk != len(self.chunk_from):
            self.find(None, "chunks", f"chunk {chunk} opened after {len(self.chunk_from)} chunks")
        self.chunk_from[chunk] = first
        self.chunk_next[chunk] = max(first, self.state.first_slot)

    def on_MemberRoleChanged(self, e: Event) -> None:
        self.roles[e.args["member"]] = int(e.args["role"])

    def on_MemberExiting(self, e: Event) -> None:
        self.members.discard(e.args["member"])

    def on_MemberLeft(self, e: Event) -> None:
        self.members.discard(e.args["member"])

    def on_ExitRequested(self, e: Event) -> None:
        a = e.args
        member = a["member"]
        penalty = int(a["penalty"])
        if penalty not in (0, self.exit_penalty):
            self.find(
                None, "exit", f"{member} charged {penalty}, the penalty is {self.exit_penalty}"
            )
        refunds = [c for c in self.tx_events("OrderCancelled") if c.args["owner"] == member]
        returned = sum(int(c.args["refund"]) for c in refunds)
        if (int(a["ordersCancelled"]), int(a["escrowReturned"])) != (len(refunds), returned):
            self.find(
                None,
                "exit",
                f"{member}: exit reports {a['ordersCancelled']} orders and "
                f"{a['escrowReturned']} escrow, the cancellations {len(refunds)}, {returned}",
            )
        charges = [(self.fee_account, penalty)] if penalty else []
        self.check_collect(None, member, charges, int(a["penaltyCollected"]))
