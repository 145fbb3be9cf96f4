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
* profit sharing and the service fee per period (`market.billing.profit_pool`, `profit_shares`);
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

Each discrepancy is a `Finding(slot, rule, detail)`; the rules are listed in `RULES`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby, pairwise
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from audit.model import ChainState, Event, Finding, Report
from chain.codec import (
    MODE_CODES,
    MODE_NAMES,
    ROLE_CODES,
    BookEntry,
    decode_order_word,
    decode_rules,
)
from chain.flexibility import FlexRequest, net_import, outcomes, segment_slots
from chain.intents import Intent
from chain.metering import (
    ZERO_HASH,
    imbalance_link,
    pack_reading_word,
    positions,
    readings_hash,
    settle_positions,
    slot_digest,
    trade_words,
    trades_hash,
)
from chain.settled import read_settled
from chain.submission import SlotBook, to_submission
from market.billing import profit_pool, profit_shares, settle_order
from market.clearing import Mode, clear
from market.flexibility import Direction, FlexOffer, FlexOutcome, accept
from market.orders import InvalidOrderError, Order, Side
from market.statement import dso_statement, member_statement
from market.tariff import InvalidTariffError, SlotRules

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
FIRST_INTENT_ID = 1 << 64
"""Direct order ids are below 2**64; an intent's id (its EIP-712 struct hash) is at or above."""
INTENT_FREE_BITS = ~((1 << 241) - 1)
"""Bits of an intent's order word that must be clear: the cancelled bit and everything above."""
MASK64 = (1 << 64) - 1

RULES: dict[str, str] = {
    "tariff": "every scheduled tariff is valid; a withdrawal removes the latest entry",
    "order": "orders are stored in book order, within the tariff's price bounds, once per id",
    "order-escrow": "a buy escrows energy x (limit + trade_fee_buy + p2p_grid_fee), a sell 0",
    "cancel-refund": "a cancellation refunds exactly the order's escrow, before settlement",
    "slot-escrow": "a slot's settlement releases exactly its open escrow",
    "slot-gap": "settled slots form a gap-free sequence, in order, each once: trades per slot, "
    "meters per chunk from the chunk's first slot",
    "slot-first": "trades settle from Settlement.firstSlot on",
    "chunks": "chunks open in order and members join open chunks (each registration's chunk is "
    "fixed by its number)",
    "intent": "a slot's intents are well-formed order words of members (a consumer never sells) "
    "within the tariff's price bounds, ids strictly ascending above every direct id, each id "
    "settled once across all slots",
    "intent-id": "an intent's id is the EIP-712 struct hash of its word's terms, its slot and "
    "its aux word's epoch and deadline",
    "intent-epoch": "an intent is signed under its member's nonce epoch at the settling block",
    "intent-deadline": "an intent settles in a block whose time is at most its deadline",
    "intent-energy": "an intent's energy is at least Settlement.minOrderWh",
    "intent-cover": "a holder's filled buy intents cost at most its balance less its debt",
    "intent-revoke": "a revocation moves its member's nonce epoch on by exactly one",
    "clearing-mode": "a slot clears in the mode of the tariff in force for it",
    "clearing-price": "the clearing price is the rulebook's (market.clearing)",
    "clearing-volume": "the traded volume is the rulebook's (maximum volume at one price)",
    "clearing-fills": "each order's fill is the rulebook's",
    "clearing-pairs": "pay-as-bid pairs are the rulebook's walk",
    "trade-value": "the slot's trade value is the sum of the rulebook's fill amounts",
    "platform-fee": "platform fees are trade_fee_buy and trade_fee_sell per Wh filled",
    "network-fee": "network charges are p2p_grid_fee per Wh bought",
    "slot-payouts": "in the settlement's transaction each account nets the rulebook's amount: "
    "direct buyers their unused escrow, intent buyers minus p*q and the buy fees, sellers p*q "
    "less the fee, the DSO the fees; the order book pays out the slot's open escrow and "
    "Settlement, the intents' pass-through, nets zero",
    "readings": "readings come from the member's registered meter, from its chunk's first slot "
    "until the (slot, chunk) closes",
    "readings-commitment": "a (slot, chunk)'s reading count and hash are those of its readings",
    "imbalance-position": "each member with readings is settled once on its readings and fills",
    "imbalance-charge": "d = m - s: credit at feed-in, charge at retail + grid fee",
    "imbalance-credit": "the supply account pays each credit to its member",
    "bau-cost": "the BaU cost is the rulebook's for the metered net export",
    "debt": "a charge takes what the balance covers (energy part first); the rest is debt",
    "digest": "each (slot, chunk)'s digest is the hash of the chunk's previous link and the "
    "(slot, chunk)'s data",
    "digest-onchain": "each chunk's last digest link equals ImbalanceSettlement.digestAt on chain",
    "profit-period": "a period is closed once, after all its slots are settled",
    "profit-members": "a period is shared over exactly the current members, ascending in chunks",
    "profit-fees": "a period's platform fees are those of its settled slots",
    "profit-export": "each member's period export is the sum of its metered export",
    "profit-pool": "pool = floor(fees * share_bps / 10000), none without export",
    "profit-share": "shares floor the running export's part of the pool, and are paid as billed",
    "service-fee": "the service fee is the tariff's at the period's first slot",
    "exit": "an exit returns the cancelled orders' escrow and charges the configured penalty",
    "flex-request": "a request escrows quantity x max price from the payer, under the penalty set",
    "flex-offer": "offers come from members, one each, at or below the maximum, in index order;"
    " a relayed offer uses its member's nonce once",
    "flex-acceptance": "the acceptance is the merit order (price, then index) up to the quantity",
    "flex-delivery": "delivered = baseline vs metered clipped to [0, accepted]; pay price x "
    "delivered, penalty x shortfall; unmeasurable or non-members neither",
    "flex-payout": "payments go to members, the rest of the escrow back to the payer, once",
    "statement": "each member's and the DSO's statement of account over every settled slot adds "
    "up to the tokens that moved: - net cost + debt left unpaid - debt repaid + top-ups - "
    "redeemed + other transfers = its balance (plus escrow of open orders)",
    "conservation": "tokens are only minted by top-ups and burned by redemptions; balances, "
    "escrow and debts replayed from events equal the chain's",
    "roles": "the roles that move members' tokens (the token's MARKET_ROLE and COLLECTOR_ROLE, "
    "the community's MEMBERSHIP_ROLE) are held only by the deployment's contracts",
}


def _role_id(name: str) -> str:
    return "0x" + keccak(text=name).hex()


# Role id -> (contract that grants it, the deployment's contracts that may hold it).
CONTRACT_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    _role_id("MARKET_ROLE"): (
        "EnergyToken",
        ("OrderBook", "Settlement", "ImbalanceSettlement", "ProfitSharing", "Flexibility"),
    ),
    _role_id("COLLECTOR_ROLE"): (
        "EnergyToken",
        ("ImbalanceSettlement", "ProfitSharing", "Membership", "Flexibility"),
    ),
    _role_id("MEMBERSHIP_ROLE"): ("Community", ("Membership",)),
}


@dataclass(slots=True)
class _Order:
    id: int
    owner: str
    side: Side
    energy_wh: int
    price: int
    escrow: int
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class _Settled:
    mode: str
    price: int
    volume_wh: int
    trade_words: list[int]
    platform_fees: int


@dataclass
class _Auditor:
    state: ChainState
    findings: list[Finding] = field(default_factory=list)
    schedule: list[tuple[int, SlotRules | None]] = field(default_factory=list)
    fee_account: str = ZERO_ADDRESS
    network_account: str = ZERO_ADDRESS
    supply_account: str = ZERO_ADDRESS
    exit_penalty: int = 0
    members: set[str] = field(default_factory=set)
    roles: dict[str, int] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    intent_slot: dict[int, int] = field(default_factory=dict)
    """Intent id -> the slot whose settlement carried it."""
    block_times: dict[int, int] = field(default_factory=dict)
    """Block -> its time (ChainState.block_times)."""
    meters: dict[str, str] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    supply: int = 0
    minted: int = 0
    burned: int = 0
    debts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    books: dict[int, list[_Order]] = field(default_factory=lambda: defaultdict(list))
    order_slot: dict[int, tuple[int, int]] = field(default_factory=dict)
    open_escrow: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    settled: dict[int, _Settled] = field(default_factory=dict)
    readings: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    """Slot -> its reading words (every chunk), in acceptance order."""
    chunk_readings: dict[tuple[int, int], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """(slot, chunk) -> the reading words of the chunk's members, in acceptance order."""
    member_chunk: dict[str, int] = field(default_factory=dict)
    chunk_from: dict[int, int] = field(default_factory=dict)
    """Chunk -> its first slot (ChunkOpened)."""
    chunk_next: dict[int, int] = field(default_factory=dict)
    """Chunk -> the next slot its imbalance settles (after its SlotDigest events so far)."""
    readings_closed: set[tuple[int, int]] = field(default_factory=set)
    pending_imbalance: dict[tuple[int, int], list[Event]] = field(
        default_factory=lambda: defaultdict(list)
    )
    digests: dict[tuple[int, int], str] = field(default_factory=dict)
    period_fees: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    period_export: dict[int, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    periods: list[int] = field(default_factory=list)
    # Per period being closed: the PeriodBilled (member, export) so far, in order.
    billed: dict[int, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    flex_penalty: int = 0
    flex_requests: dict[int, FlexRequest] = field(default_factory=dict)
    flex_offers: dict[int, list[FlexOffer]] = field(default_factory=lambda: defaultdict(list))
    flex_accepted: dict[int, list[int]] = field(default_factory=dict)
    flex_outcomes: dict[int, dict[int, FlexOutcome]] = field(default_factory=dict)
    flex_settled: set[int] = field(default_factory=set)
    flex_nonces: set[tuple[str, int]] = field(default_factory=set)
    tx: list[Event] = field(default_factory=list)
    tx_sent: dict[str, dict[str, int]] = field(default_factory=dict)
    tx_debts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.block_times = dict(self.state.block_times)

    # -- helpers ---------------------------------------------------------------------------

    def find(self, slot: int | None, rule: str, detail: str) -> None:
        self.findings.append(Finding(slot, rule, detail))

    def address(self, contract: str) -> str:
        return self.state.contracts.get(contract, ZERO_ADDRESS)

    def rules_at(self, slot: int) -> SlotRules | None:
        for start, rules in reversed(self.schedule):
            if start <= slot:
                return rules
        return None

    def tx_events(self, name: str) -> Iterator[Event]:
        return (e for e in self.tx if e.name == name)

    def start_tx(self, events: list[Event]) -> None:
        """Index the transaction's transfers and recorded debts once (a settlement of a full
        slot holds thousands of them, and several checks look them up)."""
        self.tx = events
        sent: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        debts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for e in events:
            if e.name == "Transfer":
                sent[e.args["from"]][e.args["to"]] += int(e.args["value"])
            elif e.name == "DebtRecorded":
                debts[e.args["member"]][e.args["creditor"]] += int(e.args["amount"])
        self.tx_sent, self.tx_debts = sent, debts

    def tx_net(self, before: int | None = None) -> dict[str, int]:
        """Each address's net token movement (received less sent) in the current transaction,
        over all its transfers or those logged before `before`."""
        net: dict[str, int] = defaultdict(int)
        for e in self.tx:
            if e.name == "Transfer" and (before is None or e.log_index < before):
                value = int(e.args["value"])
                net[e.args["from"]] -= value
                net[e.args["to"]] += value
        return net

    def tx_transfers_from(self, sender: str) -> dict[str, int]:
        """What `sender` transferred to each recipient in the current transaction."""
        return {k: v for k, v in self.tx_sent.get(sender, {}).items() if v}

    def check_collect(
        self, slot: int | None, member: str, charges: Sequence[tuple[str, int]], collected: int
    ) -> None:
        """EnergyToken.collect as the rulebook's apply_charge, in order of the charges: each
        creditor gets what the balance still covers, the rest is debt to it. The balance before
        is the one after (events are replayed up to this one) plus what was collected."""
        total = sum(a for _, a in charges)
        after = self.balances[member]
        if collected > total or (collected < total and after != 0):
            self.find(
                slot,
                "debt",
                f"{member} collected {collected} of a {total} charge with {after} left in its "
                "balance (must collect min(balance, charge))",
            )
            return
        left = after + collected
        paid: dict[str, int] = defaultdict(int)
        owed: dict[str, int] = defaultdict(int)
        for creditor, amount in charges:
            covered = min(left, amount)
            left -= covered
            paid[creditor] += covered
            owed[creditor] += amount - covered
        moved = self.tx_transfers_from(member)
        recorded = self.tx_debts.get(member, {})
        for creditor in paid:
            debt = recorded.get(creditor, 0)
            if moved.get(creditor, 0) != paid[creditor] or debt != owed[creditor]:
                self.find(
                    slot,
                    "debt",
                    f"{member} paid {moved.get(creditor, 0)} and owes {debt} to "
                    f"{creditor}; the charge gives {paid[creditor]} paid, {owed[creditor]} debt",
                )

    # -- the replay ------------------------------------------------------------------------

    def run(self, events: Iterable[Event]) -> None:
        ordered = sorted(events, key=lambda e: (e.block, e.log_index))
        for _tx, group in groupby(ordered, key=lambda e: e.tx):
            self.start_tx(list(group))
            for event in self.tx:
                handler = getattr(self, f"on_{event.name}", None)
                if handler is not None:
                    handler(event)
        self.tx = []
        self.finish()

    # Community

    def on_TariffScheduled(self, e: Event) -> None:
        start = int(e.args["fromSlot"])
        try:
            rules: SlotRules | None = decode_rules([int(v) for v in e.args["tariff"]])
        except (InvalidTariffError, KeyError, ValueError) as exc:
            self.find(start, "tariff", f"tariff from slot {start} is invalid: {exc}")
            rules = None
        self.schedule.append((start, rules))

    def on_TariffWithdrawn(self, e: Event) -> None:
        start = int(e.args["fromSlot"])
        if not self.schedule or self.schedule[-1][0] != start:
            self.find(start, "tariff", f"withdrawn entry from slot {start} is not the latest")
            return
        self.schedule.pop()

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

    def settled_for_all(self, slot: int) -> bool:
        """Whether every open chunk has settled `slot` against the meters (as nextSlot says)."""
        return all(n > slot for n in self.chunk_next.values())

    def on_MemberRoleChanged(self, e: Event) -> None:
        self.roles[e.args["member"]] = int(e.args["role"])

    def on_MemberExiting(self, e: Event) -> None:
        self.members.discard(e.args["member"])

    def on_MemberLeft(self, e: Event) -> None:
        self.members.discard(e.args["member"])

    def on_MeterRegistered(self, e: Event) -> None:
        self.meters[e.args["meterId"]] = e.args["member"]

    def on_MeterRetired(self, e: Event) -> None:
        self.meters.pop(e.args["meterId"], None)

    def on_RoleGranted(self, e: Event) -> None:
        """A role that moves members' tokens granted to anything but the deployment's own
        contract for it (e.g. the admin granting itself MARKET_ROLE to pull balances)."""
        role = str(e.args["role"]).lower()
        if role not in CONTRACT_ROLES:
            return
        contract, holders = CONTRACT_ROLES[role]
        account = str(e.args["account"]).lower()
        if e.contract == contract and account not in {self.address(h).lower() for h in holders}:
            self.find(
                None,
                "roles",
                f"{contract} granted a token-moving role to {e.args['account']} "
                f"(by {e.args.get('sender')}, tx {e.tx}); only {', '.join(holders)} may hold it",
            )

    # EnergyToken

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

    # OrderBook

    def on_OrderPlaced(self, e: Event) -> None:
        a = e.args
        slot, order_id, index = int(a["slot"]), int(a["id"]), int(a["index"])
        side = Side.SELL if int(a["side"]) == 1 else Side.BUY
        book = self.books[slot]
        order = _Order(
            order_id, a["owner"], side, int(a["energyWh"]), int(a["limitPrice"]), int(a["escrow"])
        )
        if index != len(book) or order_id in self.order_slot:
            self.find(slot, "order", f"order {order_id} at index {index} of a {len(book)}-book")
        if slot in self.settled:
            self.find(slot, "order", f"order {order_id} placed after the slot was settled")
        rules = self.rules_at(slot)
        if rules is not None:
            try:
                placed = Order(order_id, side, order.energy_wh, order.price, order.owner)
                rules.tariff.check_price_bounds(placed)
                escrow = rules.tariff.escrow_for(placed)
                if escrow != order.escrow:
                    self.find(
                        slot,
                        "order-escrow",
                        f"order {order_id} escrowed {order.escrow}, not {escrow}",
                    )
            except InvalidOrderError as exc:
                self.find(slot, "order", str(exc))
        self.order_slot[order_id] = (slot, len(book))
        book.append(order)
        self.open_escrow[slot] += order.escrow

    def on_OrderCancelled(self, e: Event) -> None:
        order_id, refund = int(e.args["id"]), int(e.args["refund"])
        where = self.order_slot.get(order_id)
        if where is None:
            self.find(None, "order", f"cancelled order {order_id} was never placed")
            return
        slot, index = where
        order = self.books[slot][index]
        if order.cancelled or slot in self.settled:
            self.find(
                slot, "cancel-refund", f"order {order_id} cancelled twice or after settlement"
            )
        if refund != order.escrow:
            self.find(
                slot, "cancel-refund", f"order {order_id} refunded {refund} of {order.escrow}"
            )
        order.cancelled = True
        self.open_escrow[slot] -= refund

    def on_SlotClosed(self, e: Event) -> None:
        slot, released = int(e.args["slot"]), int(e.args["escrowReleased"])
        if released != self.open_escrow[slot]:
            self.find(
                slot, "slot-escrow", f"released {released}, open escrow {self.open_escrow[slot]}"
            )
        self.open_escrow[slot] -= released

    # Settlement

    def on_SlotSettled(self, e: Event) -> None:
        a = e.args
        slot = int(a["slot"])
        fills = [int(f) for f in a["fills"]]
        if slot in self.settled:
            self.find(slot, "slot-gap", "settled twice")
        elif self.settled and slot < max(self.settled):
            self.find(slot, "slot-gap", f"settled after slot {max(self.settled)} (out of order)")
        rules = self.rules_at(slot)
        mode_name = MODE_NAMES.get(int(a["mode"]), str(a["mode"]))
        direct = self.books[slot]
        book = direct + self._intents(slot, e, rules)
        entries = tuple(
            BookEntry(i, o.owner, o.side.value, o.energy_wh, o.price, o.cancelled)
            for i, o in enumerate(book)
        )
        words: list[int] = []
        try:
            words = trade_words(entries, fills)
        except ValueError as exc:
            self.find(slot, "clearing-fills", f"fills do not fit the book: {exc}")
        self.settled[slot] = _Settled(
            mode_name, int(a["price"]), int(a["volumeWh"]), words, int(a["platformFees"])
        )
        if rules is None:
            self.find(slot, "tariff", "no valid tariff in force")
            return
        if mode_name != rules.mode:
            self.find(
                slot, "clearing-mode", f"settled as {mode_name}, the tariff says {rules.mode}"
            )
        mode = Mode(rules.mode)
        pc = rules.tariff.community_price if mode is Mode.COMMUNITY else None
        try:
            open_orders = {
                o.id: Order(o.id, o.side, o.energy_wh, o.price, o.owner)
                for o in book
                if not o.cancelled
            }
            clearing = clear(open_orders.values(), mode, pc)
        except ValueError as exc:  # InvalidOrderError: a book the contracts could not hold
            self.find(slot, "order", f"the book cannot be cleared: {exc}")
            return
        expected = to_submission(SlotBook(entries, tuple(o.id for o in book)), clearing)
        self._compare(slot, "clearing-price", int(a["price"]), expected.price)
        self._compare(slot, "clearing-volume", int(a["volumeWh"]), clearing.volume_wh)
        if fills != expected.fills:
            diff = [
                f"#{i}: {f} not {x}"
                for i, (f, x) in enumerate(zip(fills, expected.fills, strict=False))
                if f != x
            ]
            if len(fills) != len(expected.fills):
                diff.insert(0, f"{len(fills)} fills for {len(expected.fills)} orders")
            self.find(slot, "clearing-fills", "; ".join(diff[:5]))
        self._compare(slot, "clearing-pairs", [int(p) for p in a["pairs"]], expected.pairs)

        # Money: the rulebook's settlement of each open order under the slot's tariff. A direct
        # order settles out of its escrow (a buy gets back what it did not spend); an intent
        # from and to its holder's balance (a buy pays p*q and the buy fees).
        intent_ids = {o.id for o in book[len(direct) :]}
        payouts: dict[str, int] = defaultdict(int)
        costs: dict[str, int] = defaultdict(int)
        trade_value = platform = network = escrow = 0
        for order_id, order in open_orders.items():
            try:
                settled = settle_order(rules.tariff, order, clearing.fills[order_id])
            except ValueError as exc:  # outside the tariff's bounds (found when placed)
                self.find(slot, "order", f"order {order_id} cannot be settled: {exc}")
                return
            if order_id in intent_ids and order.side is Side.BUY:
                payouts[order.owner] -= settled.paid_by_member
                costs[order.owner] += settled.paid_by_member
            else:
                payouts[order.owner] += settled.received_by_member
                escrow += settled.escrow
            platform += settled.platform_fee
            network += settled.network_fee
            if order.side is Side.SELL:
                trade_value += settled.amount
        payouts[self.fee_account] += platform
        payouts[self.network_account] += network
        payouts[self.address("OrderBook")] -= escrow
        self._compare(slot, "trade-value", int(a["tradeValue"]), trade_value)
        self._compare(slot, "platform-fee", int(a["platformFees"]), platform)
        self._compare(slot, "network-fee", int(a["networkFees"]), network)
        self._check_cover(slot, e, costs)
        want = {k: v for k, v in payouts.items() if v}
        got = {k: v for k, v in self.tx_net().items() if v and k != ZERO_ADDRESS}
        if got != want:
            diff = [
                f"{who}: {got.get(who, 0)} not {want.get(who, 0)}"
                for who in sorted(set(got) | set(want))
                if got.get(who, 0) != want.get(who, 0)
            ]
            self.find(slot, "slot-payouts", "; ".join(diff[:5]))

    def _intents(self, slot: int, e: Event, rules: SlotRules | None) -> list[_Order]:
        """The book entries after the direct orders: SlotSettled's intents, decoded, each
        checked as Settlement checks it (all but the signature, which is in the calldata only:
        the id it signs is recomputed from the event)."""
        words = [int(w) for w in e.args.get("intentWords", [])]
        ids = [int(i) for i in e.args.get("intentIds", [])]
        aux = [int(x) for x in e.args.get("intentAux", [])]
        if not len(words) == len(ids) == len(aux):
            self.find(
                slot, "intent", f"{len(words)} intent words for {len(ids)} ids, {len(aux)} aux"
            )
        out: list[_Order] = []
        previous = FIRST_INTENT_ID - 1
        for word, intent_id, aux_word in zip(words, ids, aux, strict=False):
            entry = decode_order_word(0, word)
            side = Side(entry.side)
            order = _Order(
                intent_id, to_checksum_address(entry.owner), side, entry.energy_wh, entry.price, 0
            )
            where = f"intent {intent_id:#x}"
            if word & INTENT_FREE_BITS:
                self.find(slot, "intent", f"{where}: word {word:#x} has bits set beyond the side")
            if intent_id <= previous:
                self.find(
                    slot,
                    "intent",
                    f"{where} is not above the entry before it ({previous:#x}): intent ids "
                    f"are strictly ascending from {FIRST_INTENT_ID:#x}",
                )
            previous = max(previous, intent_id)
            first = self.intent_slot.setdefault(intent_id, slot)
            if first != slot or any(o.id == intent_id for o in out):
                self.find(slot, "intent", f"{where} was already settled in slot {first}")
            if order.owner not in self.members:
                self.find(slot, "intent", f"{where} of {order.owner}, not a member")
            elif side is Side.SELL and self.roles.get(order.owner) == ROLE_CODES["consumer"]:
                self.find(slot, "intent", f"{where}: consumer {order.owner} sells")
            if rules is not None:
                try:
                    rules.tariff.check_price_bounds(
                        Order(intent_id, side, order.energy_wh, order.price, order.owner)
                    )
                except InvalidOrderError as exc:
                    self.find(slot, "intent", f"{where}: {exc}")
            self._intent_terms(slot, e.block, order, word, aux_word)
            out.append(order)
        return out

    def _intent_terms(self, slot: int, block: int, order: _Order, word: int, aux: int) -> None:
        """What Settlement checks with the terms outside the order word (the aux word's epoch
        and deadline): the id is the struct hash of them all, the epoch the owner's at `block`,
        the deadline not before `block`'s time; and the energy at least the minimum."""
        where = f"intent {order.id:#x}"
        deadline, epoch = aux & MASK64, aux >> 64
        if order.energy_wh < self.state.min_order_wh:
            self.find(
                slot,
                "intent-energy",
                f"{where}: {order.energy_wh} Wh, below the minimum {self.state.min_order_wh}",
            )
        try:
            terms = Intent.of_settled(slot, word, aux)
        except ValueError as exc:
            self.find(slot, "intent", f"{where}: {exc}")
        else:
            if terms.id != order.id:
                self.find(
                    slot,
                    "intent-id",
                    f"{where} is not its terms' hash (epoch {epoch}, deadline {deadline}): "
                    f"they give {terms.id:#x}",
                )
        current = self.epochs[order.owner]
        if epoch != current:
            self.find(
                slot,
                "intent-epoch",
                f"{where} signed under epoch {epoch}; {order.owner}'s epoch at block {block} "
                f"is {current}",
            )
        now = self.block_times.get(block)
        if now is None:
            self.find(slot, "intent-deadline", f"{where}: the time of block {block} is unknown")
        elif now > deadline:
            self.find(
                slot,
                "intent-deadline",
                f"{where} expired at {deadline}, settled at {now} (block {block})",
            )

    def _check_cover(self, slot: int, e: Event, costs: dict[str, int]) -> None:
        """Each holder's filled buy intents cost at most its balance less its debt when the
        settlement ran (the replayed balance before the transaction's transfers)."""
        moved = self.tx_net(before=e.log_index)
        owed: dict[str, int] = defaultdict(int)
        for (member, _creditor), amount in self.debts.items():
            owed[member] += amount
        for member, cost in sorted(costs.items()):
            if not cost:
                continue
            balance = self.balances.get(member, 0) - moved.get(member, 0)
            spendable = max(balance - owed[member], 0)
            if cost > spendable:
                self.find(
                    slot,
                    "intent-cover",
                    f"{member}'s buy intents cost {cost}, it could spend {spendable} "
                    f"(balance {balance}, debt {owed[member]})",
                )

    def _compare(self, slot: int, rule: str, got: Any, want: Any) -> None:
        if got != want:
            self.find(slot, rule, f"chain has {got}, the rulebook gives {want}")

    def on_IntentsRevoked(self, e: Event) -> None:
        member, epoch = e.args["member"], int(e.args["epoch"])
        if epoch != self.epochs[member] + 1:
            self.find(
                None,
                "intent-revoke",
                f"{member} revoked to epoch {epoch} from epoch {self.epochs[member]}",
            )
        self.epochs[member] = epoch

    # MeterReadings

    def on_ReadingAccepted(self, e: Event) -> None:
        a = e.args
        slot, member = int(a["slot"]), a["member"]
        if self.meters.get(a["meterId"]) != member:
            self.find(slot, "readings", f"meter {a['meterId']} is not registered to {member}")
        chunk = self.member_chunk.get(member, -1)
        if (slot, chunk) in self.readings_closed:
            self.find(slot, "readings", f"reading of {member} accepted after the slot closed")
        if slot < self.chunk_from.get(chunk, slot):
            self.find(slot, "readings", f"reading of {member} for a slot before its chunk opened")
        try:
            word = pack_reading_word(member, int(a["importWh"]), int(a["exportWh"]))
        except ValueError as exc:
            self.find(slot, "readings", str(exc))
            return
        self.readings[slot].append(word)
        self.chunk_readings[slot, chunk].append(word)

    def on_SlotReadingsClosed(self, e: Event) -> None:
        slot, chunk = int(e.args["slot"]), int(e.args["chunk"])
        words = self.chunk_readings[slot, chunk]
        got = (int(e.args["count"]), e.args["readingsHash"])
        want = (len(words), "0x" + readings_hash(words).hex())
        if got != want:
            self.find(slot, "readings-commitment", f"chain has {got}, the readings give {want}")
        self.readings_closed.add((slot, chunk))

    # ImbalanceSettlement

    def on_ImbalanceSettled(self, e: Event) -> None:
        a = e.args
        slot, member = int(a["slot"]), a["member"]
        self.pending_imbalance[slot, self.member_chunk.get(member, -1)].append(e)
        charges = [
            (self.supply_account, int(a["energyCharge"])),
            (self.network_account, int(a["networkCharge"])),
        ]
        self.check_collect(slot, member, [c for c in charges if c[1]], int(a["collected"]))
        if self.state.period_slots:
            period = slot // self.state.period_slots
            self.period_export[period][member] += int(a["exportWh"])

    def on_SlotDigest(self, e: Event) -> None:
        slot, chunk = int(e.args["slot"]), int(e.args["chunk"])
        self.readings_closed.add((slot, chunk))
        got = self.pending_imbalance.pop((slot, chunk), [])
        expected_next = self.chunk_next.get(chunk)
        if expected_next is None:
            self.find(slot, "slot-gap", f"settled against meters for chunk {chunk}, never opened")
        elif slot != expected_next:
            self.find(
                slot, "slot-gap", f"chunk {chunk} settled against meters, expected {expected_next}"
            )
        self.chunk_next[chunk] = slot + 1
        settled = self.settled.get(slot)
        rules = self.rules_at(slot)
        self.digests[slot, chunk] = e.args["digest"]
        if settled is None or rules is None:
            self.find(slot, "slot-gap", "settled against meters before its trades")
            return
        if settled.mode not in MODE_CODES:
            self.find(slot, "clearing-mode", f"unknown mode {settled.mode}: no digest to compare")
            return
        if self.state.period_slots and chunk == 0:
            self.period_fees[slot // self.state.period_slots] += settled.platform_fees
        words = self.chunk_readings[slot, chunk]
        expected = settle_positions(rules.tariff, positions(words, settled.trade_words))
        if (int(e.args["members"]), int(e.args["readings"])) != (len(expected), len(words)):
            self.find(
                slot,
                "readings-commitment",
                f"digest over {e.args['members']} members and {e.args['readings']} readings, "
                f"the events give {len(expected)} and {len(words)}",
            )
        by_member = {ev.args["member"]: ev for ev in got}
        if [ev.args["member"] for ev in got] != [x.position.member for x in expected]:
            self.find(
                slot,
                "imbalance-position",
                f"settled members {[ev.args['member'] for ev in got]}, members with readings "
                f"{[x.position.member for x in expected]}",
            )
        h = ZERO_HASH
        credits: dict[str, int] = {}
        for x in expected:
            p, d = x.position, x.imbalance
            ev = by_member.get(p.member)
            collected = int(ev.args["collected"]) if ev is not None else 0
            h = imbalance_link(h, x, collected)
            if d.credit:
                credits[p.member] = d.credit
            if ev is None:
                continue
            a = ev.args
            position = (int(a["importWh"]), int(a["exportWh"]), int(a["tradedNetSoldWh"]))
            if position != (p.import_wh, p.export_wh, p.traded_net_sold_wh):
                self.find(
                    slot,
                    "imbalance-position",
                    f"{p.member}: (import, export, traded net sold) {position}, the readings and "
                    f"fills give {(p.import_wh, p.export_wh, p.traded_net_sold_wh)}",
                )
            money = (int(a["credit"]), int(a["energyCharge"]), int(a["networkCharge"]))
            if money != (d.credit, d.energy_charge, d.network_charge):
                self.find(
                    slot,
                    "imbalance-charge",
                    f"{p.member}: (credit, energy charge, network charge) {money}, the tariff "
                    f"gives {(d.credit, d.energy_charge, d.network_charge)}",
                )
            if int(a["bauCost"]) != x.bau_cost:
                self.find(slot, "bau-cost", f"{p.member}: {a['bauCost']}, not {x.bau_cost}")
        paid = self.tx_transfers_from(self.address("ImbalanceSettlement"))
        if paid != credits:
            self.find(slot, "imbalance-credit", f"credits paid {paid}, owed {credits}")
        previous = bytes.fromhex(self.digests.get((slot - 1, chunk), "0x" + "00" * 32)[2:])
        digest = slot_digest(
            previous,
            slot,
            chunk,
            settled.mode,
            settled.price,
            settled.volume_wh,
            trades_hash(settled.trade_words),
            readings_hash(words),
            h,
        )
        if "0x" + digest.hex() != e.args["digest"].lower():
            self.find(slot, "digest", f"chain has {e.args['digest']}, recomputed 0x{digest.hex()}")

    # ProfitSharing

    def period_terms(self, period: int) -> tuple[int, int]:
        """The period's pool under the rulebook and its total metered export (every member's,
        also those who left during it)."""
        total = sum(self.period_export[period].values())
        pool = profit_pool(self.period_fees[period], self.state.share_bps) if total else 0
        return pool, total

    def on_PeriodBilled(self, e: Event) -> None:
        """One member's part of a period close; the close comes in chunks, each continuing after
        the last member billed, so each share is checked from the running export."""
        a = e.args
        period, member = int(a["period"]), a["member"]
        billed = self.billed[period]
        if period in self.periods:
            self.find(None, "profit-period", f"period {period} billed {member} after its close")
        if not self.settled_for_all((period + 1) * self.state.period_slots - 1):
            self.find(None, "profit-period", f"period {period} billed before its last slot")
        if billed and int(member, 16) <= int(billed[-1][0], 16):
            self.find(None, "profit-members", f"period {period}: {member} after {billed[-1][0]}")
        export = self.period_export[period].get(member, 0)
        if int(a["exportWh"]) != export:
            self.find(
                None,
                "profit-export",
                f"period {period} {member}: {a['exportWh']} Wh, readings give {export}",
            )
        pool, total = self.period_terms(period)
        running = sum(x for _, x in billed)
        (share,) = profit_shares(pool, [export], total_wh=total, before_wh=running)
        if int(a["share"]) != share:
            self.find(None, "profit-share", f"period {period} {member}: {a['share']}, rule {share}")
        paid = self.tx_transfers_from(self.address("ProfitSharing"))
        shares = {b.args["member"]: int(b.args["share"]) for b in self.tx_events("PeriodBilled")}
        if paid != {m: x for m, x in shares.items() if x}:
            self.find(None, "profit-share", f"period {period}: paid {paid}, billed {shares}")
        rules = self.rules_at(period * self.state.period_slots)
        fee = int(a["serviceFee"])
        if rules is None or fee != rules.tariff.service_fee:
            self.find(None, "service-fee", f"period {period} {member}: fee {fee}")
        billed.append((member, export))
        self.check_collect(
            None, member, [(self.fee_account, fee)] if fee else [], int(a["collected"])
        )

    def on_PeriodClosed(self, e: Event) -> None:
        """The call that billed the period's last member: every current member billed once."""
        a = e.args
        period = int(a["period"])
        self.periods.append(period)
        if period in self.periods[:-1]:
            self.find(None, "profit-period", f"period {period} closed twice")
        listed = [m for m, _ in self.billed[period]]
        current = sorted(self.members, key=lambda m: int(m, 16))
        if listed != current or int(a["members"]) != len(current):
            self.find(None, "profit-members", f"period {period} lists {listed}, members {current}")
        fees = self.period_fees[period]
        if int(a["platformFees"]) != fees:
            self.find(None, "profit-fees", f"period {period}: {a['platformFees']}, slots {fees}")
        pool, total = self.period_terms(period)
        if int(a["totalExportWh"]) != total:
            self.find(
                None, "profit-export", f"period {period}: total {a['totalExportWh']}, {total}"
            )
        if int(a["pool"]) != pool:
            self.find(None, "profit-pool", f"period {period}: pool {a['pool']}, rule gives {pool}")
        rules = self.rules_at(period * self.state.period_slots)
        fee = rules.tariff.service_fee if rules is not None else None
        if int(a["serviceFee"]) != fee:
            self.find(None, "service-fee", f"period {period}: {a['serviceFee']}, tariff {fee}")

    # Membership

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

    # Flexibility

    def on_FlexPenaltySet(self, e: Event) -> None:
        self.flex_penalty = int(e.args["penalty"])

    def on_FlexRequested(self, e: Event) -> None:
        a = e.args
        rid, slot = int(a["requestId"]), int(a["slot"])
        req = FlexRequest(
            rid,
            slot,
            Direction(int(a["direction"])),
            int(a["quantityWh"]),
            int(a["maxPrice"]),
            int(a["gateClosure"]),
            int(a["penalty"]),
            a["payer"],
            0,
        )
        self.flex_requests[rid] = req
        if rid != len(self.flex_requests) - 1:
            self.find(slot, "flex-request", f"request {rid} out of sequence")
        if req.penalty != self.flex_penalty:
            self.find(
                slot,
                "flex-request",
                f"request {rid} penalty {req.penalty}, set {self.flex_penalty}",
            )
        if req.payer != self.network_account:
            self.find(
                slot, "flex-request", f"request {rid} paid by {req.payer}, not the network account"
            )
        pulled = self.tx_transfers_from(req.payer).get(self.address("Flexibility"), 0)
        if int(a["escrow"]) != req.escrow or pulled != req.escrow:
            self.find(
                slot,
                "flex-request",
                f"request {rid} escrow {a['escrow']}, {pulled} moved; rule {req.escrow}",
            )

    def on_FlexOffered(self, e: Event) -> None:
        a = e.args
        rid, member = int(a["requestId"]), a["member"]
        req = self.flex_requests.get(rid)
        offers = self.flex_offers[rid]
        slot = req.slot if req else None
        offer = FlexOffer(int(a["index"]), member, int(a["quantityWh"]), int(a["price"]))
        if (
            req is None
            or offer.id != len(offers)
            or member not in self.members
            or any(o.member == member for o in offers)
            or offer.price > req.max_price
            or not 0 < offer.quantity_wh < 1 << 40
            or rid in self.flex_accepted
        ):
            self.find(slot, "flex-offer", f"request {rid}: offer {offer} breaks the offer rules")
        offers.append(offer)

    def on_FlexOfferSigned(self, e: Event) -> None:
        """A relayed offer: its nonce is used once per member, and the offer it made is the
        member's FlexOffered on the same request just before it, in the same transaction."""
        a = e.args
        rid, member, nonce = int(a["requestId"]), a["member"], int(a["nonce"])
        req = self.flex_requests.get(rid)
        slot = req.slot if req else None
        if (member, nonce) in self.flex_nonces:
            self.find(slot, "flex-offer", f"{member} nonce {nonce} used twice")
        self.flex_nonces.add((member, nonce))
        before = [x for x in self.tx if x.log_index < e.log_index]
        last = before[-1] if before else None
        if (
            last is None
            or last.name != "FlexOffered"
            or last.args["member"] != member
            or int(last.args["requestId"]) != rid
        ):
            self.find(slot, "flex-offer", f"request {rid}: signed offer of {member} not made")

    def on_FlexAccepted(self, e: Event) -> None:
        rid = int(e.args["requestId"])
        req = self.flex_requests.get(rid)
        got = [int(v) for v in e.args["accepted"]]
        if req is None or rid in self.flex_accepted:
            self.find(None, "flex-acceptance", f"request {rid} accepted unknown or twice")
            return
        want = list(accept(self.flex_offers[rid], req.quantity_wh, req.max_price))
        self.flex_accepted[rid] = got
        if got != want or int(e.args["volumeWh"]) != sum(want):
            self.find(req.slot, "flex-acceptance", f"request {rid}: chain has {got}, rule {want}")

    def _flex_outcomes(self, rid: int) -> dict[int, FlexOutcome]:
        if rid not in self.flex_outcomes:
            req = self.flex_requests[rid]
            st = self.state
            slots = segment_slots(req.slot, st.slot_seconds, st.flex_lookback_days)
            segments = [net_import([] if s is None else self.readings.get(s, [])) for s in slots]
            self.flex_outcomes[rid] = outcomes(
                req,
                self.flex_offers[rid],
                self.flex_accepted.get(rid, []),
                segments,
                baseline_days=st.flex_baseline_days,
                is_member=self.members.__contains__,
            )
        return self.flex_outcomes[rid]

    def on_FlexDelivered(self, e: Event) -> None:
        a = e.args
        rid, index, member = int(a["requestId"]), int(a["index"]), a["member"]
        req = self.flex_requests.get(rid)
        if req is None or rid not in self.flex_accepted:
            self.find(None, "flex-delivery", f"request {rid}: delivery without acceptance")
            return
        if not self.settled_for_all(req.slot):
            self.find(req.slot, "flex-delivery", f"request {rid} settled before its readings")
        want = self._flex_outcomes(rid).get(index)
        if want is None or self.flex_offers[rid][index].member != member:
            self.find(req.slot, "flex-delivery", f"request {rid}: offer {index} was not accepted")
            return
        got: tuple[object, ...] = (
            bool(a["measured"]),
            int(a["deliveredWh"]),
            int(a["payment"]),
            int(a["penalty"]),
        )
        rule: tuple[object, ...] = (want.measured, want.delivered_wh, want.payment, want.penalty)
        if want.measured:
            got += (int(a["baselineWh"]), int(a["meteredWh"]))
            rule += (want.baseline_wh, want.metered_wh)
        if got != rule or int(a["acceptedWh"]) != want.accepted_wh:
            self.find(
                req.slot,
                "flex-delivery",
                f"request {rid} offer {index}: chain has {got}, the rulebook gives {rule}",
            )
        charges = [(req.payer, want.penalty)] if want.penalty else []
        self.check_collect(req.slot, member, charges, int(a["collected"]))

    def on_FlexSettled(self, e: Event) -> None:
        a = e.args
        rid = int(e.args["requestId"])
        req = self.flex_requests.get(rid)
        if req is None or rid in self.flex_settled:
            self.find(None, "flex-payout", f"request {rid} settled unknown or twice")
            return
        self.flex_settled.add(rid)
        outs = self._flex_outcomes(rid) if rid in self.flex_accepted else {}
        delivered = {int(d.args["index"]) for d in self.tx_events("FlexDelivered")}
        if delivered != set(outs):
            self.find(
                req.slot, "flex-payout", f"request {rid}: deliveries {delivered}, rule {set(outs)}"
            )
        paid = sum(o.payment for o in outs.values())
        penalties = sum(o.penalty for o in outs.values())
        want: dict[str, int] = defaultdict(int)
        offers = self.flex_offers[rid]
        for i, o in outs.items():
            if o.payment:
                want[offers[i].member] += o.payment
        if req.escrow - paid:
            want[req.payer] += req.escrow - paid
        moved = self.tx_transfers_from(self.address("Flexibility"))
        got = (int(a["paid"]), int(a["refunded"]), int(a["penalties"]))
        if got != (paid, req.escrow - paid, penalties) or moved != dict(want):
            self.find(
                req.slot,
                "flex-payout",
                f"request {rid}: chain has {got} and transfers {moved}, rule "
                f"{(paid, req.escrow - paid, penalties)} and {dict(want)}",
            )

    # -- end of the chain ------------------------------------------------------------------

    def finish(self) -> None:
        st = self.state
        settled = sorted(self.settled)
        if settled and settled[0] != st.trade_first_slot:
            self.find(
                settled[0],
                "slot-first",
                f"trades settled from slot {settled[0]}, Settlement.firstSlot is "
                f"{st.trade_first_slot}",
            )
        for before, after in pairwise(settled):
            if after != before + 1:
                self.find(after, "slot-gap", f"trades settled after slot {before}, skipping")
        for slot, _ in sorted(self.pending_imbalance):
            self.find(slot, "imbalance-position", "ImbalanceSettled without a SlotDigest")
        last = {chunk: slot for slot, chunk in sorted(self.digests)}
        onchain = {chunk: (slot, digest) for slot, chunk, digest in st.last_digests}
        for chunk, slot in sorted(last.items()):
            ours = self.digests[slot, chunk]
            if chunk not in onchain:
                self.find(slot, "digest-onchain", f"chunk {chunk}: no on-chain digest read")
            elif onchain[chunk] != (slot, ours.lower()):
                self.find(
                    slot,
                    "digest-onchain",
                    f"chunk {chunk}: digestAt{onchain[chunk]}, the events say {(slot, ours)}",
                )

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
        for name in ("Settlement", "ImbalanceSettlement", "ProfitSharing", "Membership"):
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
            for member in sorted(self.roles):
                st = member_statement(
                    member, chain.settled, chain.tariff_at, chain.accounts, period, *everything
                )
                held = self.balances.get(member, 0)
                if st["token_change"] - open_escrow[member] != held:
                    self.find(
                        None,
                        "statement",
                        f"{member}: the statement moves {st['token_change']} (open escrow "
                        f"{open_escrow[member]}), its tokens moved {held}",
                    )
            dso = dso_statement(chain.settled, chain.tariff_at, chain.accounts, period, *everything)
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


def audit(events: Sequence[Event], state: ChainState) -> Report:
    """Check every rule over `events` (all events of all contracts, any order) against the
    chain's `state` at the audited block."""
    auditor = _Auditor(state)
    auditor.run(events)
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
