"""Money (EnergyToken): token conservation (mints are top-ups, burns redemptions, no balance goes
negative, the supply is the sum of balances, the order book holds exactly the open escrow, and
the replayed balances and debts equal the chain's at the audited block), debt repayment, and
statements of account (`market.statement` on `chain.settled.read_settled`): each member's
statement over every settled slot, and the DSO's over its accounts, add up to the tokens that
moved: the replayed balance is the statement's net token change less the escrow still held for
open orders (and, for the DSO, for open flexibility requests)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from audit.model import Event
from audit.rules.core import ZERO_ADDRESS, AuditState
from chain.settled import read_settled
from market.statement import dso_statement, member_statements

RULES: dict[str, str] = {
    "debt": "a charge takes what the balance covers (energy part first); the rest is debt",
    "statement": "each member's and the DSO's statement of account over every settled slot adds "
    "up to the tokens that moved: - net cost + debt left unpaid - debt repaid + top-ups - "
    "redeemed + other transfers = its balance (plus escrow of open orders)",
    "conservation": "tokens are only minted by top-ups and burned by redemptions; balances, "
    "escrow and debts replayed from events equal the chain's",
}


class MoneyRules(AuditState):
    def on_Transfer(self, e: Event) -> None:
        sender, to, value = e.args["from"], e.args["to"], int(e.args["value"])
        if sender == ZERO_ADDRESS:
            if not any(
                t.args["member"] == to and int(t.args["amount"]) == value
                for t in self.tx_events("TopUp")
            ):
                self.find(None, "conservation", f"{value} minted to {to} without a top-up")
            self.supply += value
        else:
            if self.balances[sender] < value:
                self.find(
                    None,
                    "conservation",
                    f"{sender} sent {value} holding {self.balances[sender]} (tx {e.tx})",
                )
            self.balances[sender] -= value
        if to == ZERO_ADDRESS:
            if not any(
                r.args["holder"] == sender and int(r.args["amount"]) == value
                for r in self.tx_events("Redeemed")
            ):
                self.find(None, "conservation", f"{value} burned from {sender} without redeem")
            self.supply -= value
        else:
            self.balances[to] += value

    def on_TopUp(self, e: Event) -> None:
        self.minted += int(e.args["amount"])

    def on_Redeemed(self, e: Event) -> None:
        self.burned += int(e.args["amount"])

    def on_DebtRecorded(self, e: Event) -> None:
        self.debts[(e.args["member"], e.args["creditor"])] += int(e.args["amount"])

    def on_DebtRepaid(self, e: Event) -> None:
        key = (e.args["member"], e.args["creditor"])
        amount = int(e.args["amount"])
        if amount > self.debts[key]:
            self.find(None, "debt", f"{key[0]} repaid {amount} to {key[1]} owing {self.debts[key]}")
        self.debts[key] -= amount

    def check_conservation(self) -> None:
        """At the audited block: supply, balances, escrow held and debts against the chain's."""
        st = self.state

        def conservation(detail: str) -> None:
            self.find(None, "conservation", detail)

        held = sum(self.balances.values())
        if held != self.supply:
            conservation(f"balances add up to {held}, supply is {self.supply}")
        if self.supply != self.minted - self.burned:
            conservation(f"supply {self.supply} != top-ups {self.minted} - redeemed {self.burned}")
        if st.total_supply != self.supply:
            conservation(f"totalSupply {st.total_supply}, events give {self.supply}")
        for who in sorted(set(self.balances) | set(st.balances)):
            if self.balances.get(who, 0) != st.balances.get(who, 0):
                conservation(
                    f"balance of {who} is {st.balances.get(who, 0)}, events give "
                    f"{self.balances.get(who, 0)}"
                )
        escrow = sum(v for s, v in self.open_escrow.items() if s not in self.settled)
        book = self.balances.get(self.address("OrderBook"), 0)
        if book != escrow:
            conservation(f"the order book holds {book}, open escrow is {escrow}")
        flex = self.balances.get(self.address("Flexibility"), 0)
        flex_escrow = sum(
            r.escrow for rid, r in self.flex_requests.items() if rid not in self.flex_settled
        )
        if flex != flex_escrow:
            conservation(f"Flexibility holds {flex}, open request escrow is {flex_escrow}")
        for name in (
            "Settlement",
            "ImbalanceSettlement",
            "SharingSettlement",
            "ProfitSharing",
            "Membership",
        ):
            if self.balances.get(self.address(name), 0):
                conservation(f"{name} holds {self.balances[self.address(name)]}, must hold 0")
        owed: dict[str, int] = defaultdict(int)
        for (member, _creditor), amount in self.debts.items():
            owed[member] += amount
        for who in sorted(set(owed) | set(st.debts)):
            if owed.get(who, 0) != st.debts.get(who, 0):
                conservation(
                    f"debt of {who} is {st.debts.get(who, 0)}, events give {owed.get(who, 0)}"
                )
        if st.total_debt != sum(owed.values()):
            conservation(f"totalDebt {st.total_debt}, events give {sum(owed.values())}")

    def check_statements(self, events: Sequence[Event]) -> None:
        """Every account's statement of account adds up to its replayed token balance."""
        try:
            chain = read_settled(events)
            everything = (0, 2**64)
            period = self.state.period_slots or 1
            open_escrow: dict[str, int] = defaultdict(int)
            for slot, book in self.books.items():
                if slot not in self.settled:
                    for o in book:
                        if not o.cancelled:
                            open_escrow[o.owner] += o.escrow
            members = sorted(self.roles)
            statements = member_statements(members, chain, period, *everything)
            for member in members:
                st = statements[member]
                held = self.balances.get(member, 0)
                if st["token_change"] - open_escrow[member] != held:
                    self.find(
                        None,
                        "statement",
                        f"{member}: the statement moves {st['token_change']} (open escrow "
                        f"{open_escrow[member]}), its tokens moved {held}",
                    )
            dso = dso_statement(chain, period, *everything)
            flex_escrow = sum(
                r.escrow for rid, r in self.flex_requests.items() if rid not in self.flex_settled
            )
            held = sum(self.balances.get(a, 0) for a in chain.accounts.all_dso)
            if dso["token_change"] - flex_escrow != held:
                self.find(
                    None,
                    "statement",
                    f"DSO: the statement moves {dso['token_change']} (open flexibility escrow "
                    f"{flex_escrow}), its accounts' tokens moved {held}",
                )
        except (ValueError, KeyError) as exc:  # a book or tariff the other rules name
            self.find(None, "statement", f"no statement can be built: {exc}")
