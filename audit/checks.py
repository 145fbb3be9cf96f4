"""The audit itself: rebuild the market from chain events alone and check every rule. Pure.

`audit(events, state)` replays the events of every gridshare contract in chain order (block,
log index) and re-derives, with the rulebook (`market/`) and the contracts' pure encodings
(`chain/submission.py`, `chain/metering.py`), everything the contracts claim:

* the tariff schedule (Community's TariffScheduled / TariffWithdrawn), so each slot is checked
  against the tariff and clearing mode in force for it;
* each slot's book: its direct orders (OrderPlaced minus OrderCancelled, in book order; a
  standing order arrives as one OrderPlaced per slot, exactly as the book stores it) followed by
  the signed intents its settlement carried (SlotSettled's intentWords, intentIds and
  intentAux: each id recomputed with `chain.intents` from its word, the slot and the aux word's
  epoch and deadline, ascending, used once across all slots, of members within the tariff's
  bounds and at least Settlement.minOrderWh, signed under the epoch the member's IntentsRevoked
  history gives at the settling block, not past its deadline at that block's time), its
  escrow, and its clearing: `market.clearing.clear` on the open orders must give SlotSettled's
  price, volume, fills and pay-as-bid pairs; fees, network charges, trade value and each
  account's net payout in the settlement's transaction (direct orders out of escrow, intents
  from and to the holder's balance through Settlement's pass-through, which keeps nothing)
  follow `market.billing.settle_order`, and each holder's filled buy intents are covered by
  its balance less its debt;
* the settlement against meters: reading commitments, each member's imbalance and BaU cost
  (`market.billing` through `chain.metering.settle_positions`), what a balance covered and what
  became debt, and the slot's link in the digest chain;
* the `sharing` mode: each (slot, chunk)'s allocation, money, totals and digest link rebuilt
  from the committed readings, the members' sharing terms and the tariff (`chain.sharing`);
* profit sharing, the service fee and the battery lease per period (`market.billing.profit_pool`,
  `profit_shares`; each lease as the DSO last set it);
* DSO flexibility: each request's escrow, each offer, the merit-order acceptance
  (`market.flexibility.accept`), and each delivery's baseline, payment and penalty
  (`market.flexibility.settle_offer` through `chain.flexibility.outcomes`, from the replayed
  readings of the slot and of the same slot of day on the lookback days), what the penalty
  collected and the payout of the escrow;
* statements of account (`market.statement` on `chain.settled.read_settled`): each member's
  statement over every settled slot, and the DSO's over its accounts, add up to the tokens that
  moved: the replayed balance is the statement's net token change less the escrow still held
  for open orders (and, for the DSO, for open flexibility requests);
* token conservation: mints are top-ups, burns redemptions, no balance goes negative, the
  supply is the sum of balances, the order book holds exactly the open escrow, and the replayed
  balances and debts equal the chain's at the audited block.

Each discrepancy is a `Finding(slot, rule, detail)`; the rules are listed in `RULES`. The rules
live by domain in `audit.rules` (trades, intents, meters, sharing, money, profit,
membership, flexibility, roles), each a mixin over the shared replay state of
`audit.rules.core`; the auditor here is their composition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from audit.model import ChainState, Event, Report
from audit.rules import (
    flexibility,
    intents,
    membership,
    meters,
    money,
    profit,
    roles,
    sharing,
    trades,
)
from audit.rules.core import ZERO_ADDRESS
from audit.rules.flexibility import FlexibilityRules
from audit.rules.intents import FIRST_INTENT_ID, MASK64
from audit.rules.membership import MembershipRules
from audit.rules.meters import MeterRules
from audit.rules.money import MoneyRules
from audit.rules.profit import ProfitRules
from audit.rules.roles import RoleRules
from audit.rules.sharing import SharingRules
from audit.rules.trades import TradeRules

__all__ = ["FIRST_INTENT_ID", "MASK64", "RULES", "addresses_seen", "audit"]

RULES: dict[str, str] = {
    **trades.RULES,
    **intents.RULES,
    **meters.RULES,
    **money.RULES,
    **profit.RULES,
    **membership.RULES,
    **flexibility.RULES,
    **roles.RULES,
    **sharing.RULES,
}


class _Auditor(
    MembershipRules,
    RoleRules,
    MoneyRules,
    TradeRules,
    MeterRules,
    SharingRules,
    ProfitRules,
    FlexibilityRules,
):
    """Every domain's handlers over one replay state."""

    def finish(self) -> None:
        """The checks at the end of the chain, once every event is replayed."""
        self.check_settled_sequence()
        self.check_digests_onchain()
        self.check_conservation()


def audit(events: Sequence[Event], state: ChainState) -> Report:
    """Check every rule over `events` (all events of all contracts, any order) against the
    chain's `state` at the audited block."""
    auditor = _Auditor(state)
    auditor.run(events)
    auditor.finish()
    auditor.check_statements(events)
    return Report(
        block=state.block,
        events_read=len(events),
        slots_checked=sorted(auditor.settled),
        slots_metered=sorted({slot for slot, _ in auditor.digests}),
        periods_checked=sorted(set(auditor.periods)),
        findings=auditor.findings,
    )


def addresses_seen(events: Iterable[Event]) -> tuple[set[str], set[str]]:
    """Addresses whose token balance, and whose debt, the events touch (for reading the
    chain's state to compare with)."""
    holders: set[str] = set()
    debtors: set[str] = set()
    for e in events:
        if e.name == "Transfer":
            holders.update((e.args["from"], e.args["to"]))
        elif e.name in ("DebtRecorded", "DebtRepaid"):
            debtors.add(e.args["member"])
    holders.discard(ZERO_ADDRESS)
    return holders, debtors
