"""Signed intents: the entries a slot's settlement carried after its direct orders
(SlotSettled's intentWords, intentIds and intentAux): each id recomputed with `chain.intents`
from its word, the slot and the aux word's epoch and deadline, ascending, used once across all
slots, of members within the tariff's bounds and at least Settlement.minOrderWh, signed under the
epoch the member's IntentsRevoked history gives at the settling block, not past its deadline at
that block's time; and each holder's filled buy intents covered by its balance less its debt."""

from __future__ import annotations

from collections import defaultdict

from eth_utils.address import to_checksum_address

from audit.model import Event
from audit.rules.core import AuditState, BookOrder
from chain.codec import ROLE_CODES, decode_order_word
from chain.intents import Intent
from market.orders import InvalidOrderError, Order, Side
from market.tariff import SlotRules

FIRST_INTENT_ID = 1 << 64
"""Direct order ids are below 2**64; an intent's id (its EIP-712 struct hash) is at or above."""
INTENT_FREE_BITS = ~((1 << 241) - 1)
"""Bits of an intent's order word that must be clear: the cancelled bit and everything above."""
MASK64 = (1 << 64) - 1

RULES: dict[str, str] = {
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
}


class IntentRules(AuditState):
    def _intents(self, slot: int, e: Event, rules: SlotRules | None) -> list[BookOrder]:
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
        out: list[BookOrder] = []
        previous = FIRST_INTENT_ID - 1
        for word, intent_id, aux_word in zip(words, ids, aux, strict=False):
            entry = decode_order_word(0, word)
            side = Side(entry.side)
            order = BookOrder(
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

    def _intent_terms(self, slot: int, block: int, order: BookOrder, word: int, aux: int) -> None:
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

    def on_IntentsRevoked(self, e: Event) -> None:
        member, epoch = e.args["member"], int(e.args["epoch"])
        if epoch != self.epochs[member] + 1:
            self.find(
                None,
                "intent-revoke",
                f"{member} revoked to epoch {epoch} from epoch {self.epochs[member]}",
            )
        self.epochs[member] = epoch
