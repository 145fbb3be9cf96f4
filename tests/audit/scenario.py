"""A small community's life on a real ganache, for the audit's end-to-end test and its recorded
fixture: eight 15-minute slots in all three clearing modes (uniform, pay-as-bid, community, and a
changed uniform tariff, one scheduled entry withdrawn), a standing order, a cancellation, signed
meter readings, imbalance with debt and its repayment, a redemption, an exit within the lock-in
(penalty) and its completion, two profit-sharing periods closed (with two battery leases, one
partly left as debt, the other ended after the first period), and signed intents: one beside
the direct orders of slot 6, and a slot (7) whose book is intents only (a holder that buys and
sells, a partial fill, an unfilled intent, a revocation and the revoked intent left out).

Trades are settled by the real matcher service, with the intents from an in-memory pool; readings
are signed by each meter's own key and relayed by the oracle; the imbalance is settled from the
chain's own commitments, grouped by chunk as the matcher groups them.

`python -m tests.audit.scenario OUT.json` runs it on a fresh chain and records every event and
the state at the last block (tests/audit/data/chain.json, the pure tests' input).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from eth_account import Account
from eth_utils.crypto import keccak
from web3.logs import DISCARD
from web3.types import Wei

from chain.codec import ROLE_CODES, SIDE_CODES, decode_rules, encode_rules
from chain.devchain import DevChain, dev_chain
from chain.intents import Intent, IntentBatch, SignedIntent, intent_typed_data
from chain.metering import pack_reading_word, positions, trade_words, word_member
from chain.node import Node, Sender
from chain.signing import Reading, reading_typed_data, sign_typed_data
from chain.submission import clear_slot
from gridshare.settings import Settings
from market.tariff import SlotRules, Tariff
from matcher.service import Matcher

EUR = 10**9
DSO, ORACLE, MATCHER = 0, 1, 2
SUPPLY = 8  # scripts/deploy.py: the supply account on a development chain
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy")
FIRST_MEMBER = 9  # accounts 9..14; gina, hank and ivy sign intents with their own keys
MEMBER_KEYS = {
    "gina": "0x" + "91" * 32,
    "hank": "0x" + "4a" * 32,
    "ivy": "0x" + "1f" * 32,
}
CONSUMERS = ("dave", "hank")
SLOTS = 8
PERIOD_SLOTS = 4
# Members billed per ProfitSharing.closePeriod call: the scenario's periods close in three calls.
CLOSE_CHUNK = 4


def chain_env() -> dict[str, str]:
    """Deployment settings: slot 0 starts now, short slots, a two-slot horizon (so tariff
    changes can be scheduled for slot 3 on), four-slot periods closed in chunks of
    `CLOSE_CHUNK` members, readings settle on delivery."""
    return {
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
        "GRIDSHARE_GENESIS": str(int(time.time()) - 30),
        "GRIDSHARE_SLOT_SECONDS": "900",
        "GRIDSHARE_GATE_CLOSURE_SECONDS": "300",
        "GRIDSHARE_ORDER_HORIZON_SLOTS": "2",
        "GRIDSHARE_PERIOD_SLOTS": str(PERIOD_SLOTS),
        "GRIDSHARE_READING_DEADLINE_SECONDS": "0",
        "GRIDSHARE_CHUNK_MEMBERS": str(CLOSE_CHUNK),
    }


@contextmanager
def scenario_chain(deployments_dir: Path) -> Iterator[DevChain]:
    with dev_chain(deployments_dir, chain_env(), node="anvil") as running:
        yield running


def base_rules(mode: str, **changes: int) -> SlotRules:
    fields: dict[str, int] = {
        "retail_price": 200_000,
        "feed_in_price": 70_000,
        "grid_fee": 100_000,
        "p2p_grid_fee": 40_000,
        "trade_fee_buy": 5_000,
        "trade_fee_sell": 5_000,
        "community_price": 190_000,
        "service_fee": 2 * EUR,
    }
    fields.update(changes)
    return SlotRules(Tariff(**fields), mode)


# Orders per slot: (member, side, Wh, limit). Slot 1-2 also get alice's standing sell order.
ORDERS: dict[int, list[tuple[str, str, int, int]]] = {
    1: [("bob", "buy", 1500, 150_000), ("carol", "buy", 1000, 120_000)],
    2: [("bob", "buy", 3000, 100_000), ("erin", "sell", 500, 90_000)],
    3: [
        ("bob", "buy", 1000, 180_000),
        ("carol", "buy", 800, 150_000),
        ("alice", "sell", 700, 90_000),
        ("erin", "sell", 900, 140_000),
    ],
    4: [("bob", "buy", 500, 80_000), ("alice", "sell", 500, 100_000)],
    5: [
        ("bob", "buy", 1000, 195_000),
        ("carol", "buy", 500, 200_000),
        ("alice", "sell", 800, 100_000),
        ("erin", "sell", 300, 190_000),
    ],
    6: [("carol", "buy", 1000, 130_000), ("erin", "sell", 1200, 100_000)],
}
# Intents per slot: (member, side, Wh, limit). In slot 6 hank buys beside carol's direct buy
# from erin's direct sell. Slot 7 has intents only: gina sells 800 Wh and buys 200 Wh (her
# account is written once, with the net); hank fills, ivy partly; hank's low bid stays unfilled.
# Ivy revokes before signing hers: the intent she signed before (REVOKED) is left out.
INTENTS: dict[int, list[tuple[str, str, int, int]]] = {
    6: [("hank", "buy", 150, 110_000)],
    7: [
        ("gina", "sell", 800, 90_000),
        ("gina", "buy", 200, 160_000),
        ("hank", "buy", 500, 150_000),
        ("ivy", "buy", 600, 120_000),
        ("hank", "buy", 100, 80_000),
    ],
}
REVOKED = (7, ("ivy", "buy", 900, 200_000))
# Readings per slot: member -> (import Wh, export Wh). Dave imports 10 kWh in slot 1 on 1 €.
READINGS: dict[int, dict[str, tuple[int, int]]] = {
    0: {"alice": (0, 300), "bob": (200, 0)},
    1: {"alice": (0, 1800), "bob": (1500, 0), "carol": (900, 0), "dave": (10_000, 0)},
    2: {"alice": (0, 2500), "bob": (2000, 0), "erin": (0, 400), "frank": (100, 0)},
    3: {"alice": (0, 700), "bob": (1000, 0), "carol": (800, 0), "erin": (0, 900)},
    4: {"alice": (0, 100), "dave": (300, 0)},
    5: {"alice": (0, 800), "bob": (1000, 0), "carol": (500, 0), "erin": (0, 300)},
    6: {"carol": (1200, 0), "erin": (0, 1000), "hank": (150, 0)},
    7: {"erin": (0, 50), "gina": (0, 700), "hank": (500, 0), "ivy": (150, 0)},
}


@dataclass
class IntentPool:
    """The matcher's intent pool (matcher.intents.Pool) in memory: what each slot has pending,
    and what its settlement included and left out."""

    intents: dict[int, list[SignedIntent]] = field(default_factory=dict)
    included: dict[int, list[int]] = field(default_factory=dict)
    left_out: dict[int, dict[int, str]] = field(default_factory=dict)

    def pending(self, slot: int) -> list[SignedIntent]:
        return [] if slot in self.included else list(self.intents.get(slot, []))

    def resolve(
        self,
        slot: int,
        included: Sequence[int],
        left_out: Mapping[int, str],
        tx_hash: str | None,
    ) -> None:
        self.included[slot] = list(included)
        self.left_out[slot] = dict(left_out)

    def batch(self, slot: int) -> IntentBatch:
        """The batch the slot's settlement carried."""
        carried = set(self.included.get(slot, []))
        return IntentBatch.of([s for s in self.intents.get(slot, []) if s.intent.id in carried])


@dataclass
class Community:
    node: Node
    members: dict[str, str] = field(default_factory=dict)
    meter_keys: dict[str, bytes] = field(default_factory=dict)
    pool: IntentPool = field(default_factory=IntentPool)
    sequence: int = 0

    @property
    def accounts(self) -> list[str]:
        return [str(a) for a in self.node.w3.eth.accounts]

    def send(self, who: int | str, contract: str, fn: str, *args: Any) -> Any:
        if isinstance(who, str) and who in MEMBER_KEYS.values():
            sender = Sender.from_key(who)
        else:
            sender = Sender(self.accounts[who] if isinstance(who, int) else who)
        return self.node.transact(self.node.contract(contract).functions[fn](*args), sender)

    def call(self, contract: str, fn: str, *args: Any) -> Any:
        return self.node.call(self.node.contract(contract).functions[fn](*args))

    def advance_to(self, timestamp: int) -> None:
        """Move chain time just past `timestamp` and mine a block there."""
        gap = timestamp - self.node.block_timestamp() + 1
        if gap > 0:
            self.node.make_request("evm_increaseTime", [gap])
        dso = self.accounts[DSO]
        self.node.w3.eth.send_transaction(
            {"from": dso, "to": dso, "value": Wei(0), "gasPrice": Wei(self.node.gas_price_wei)}
        )

    def setup(self) -> None:
        for i, name in enumerate(NAMES):
            if name in MEMBER_KEYS:
                member = Account.from_key(MEMBER_KEYS[name]).address
                self.fund(member)
            else:
                member = self.accounts[FIRST_MEMBER + i]
            self.members[name] = member
            role = "consumer" if name in CONSUMERS else "prosumer"
            lock_in = 100 if name == "frank" else 0
            self.send(DSO, "Community", "registerMember", member, ROLE_CODES[role], lock_in)
            top_up = EUR if name == "dave" else 100 * EUR
            self.send(DSO, "EnergyToken", "topUp", member, top_up, keccak(text=f"top-up {name}"))
            key = keccak(text=f"meter key {name}")
            self.meter_keys[name] = key
            signer = Account.from_key(key).address
            self.send(DSO, "Community", "registerMeter", self.meter_id(name), member, signer)
        supply = self.accounts[SUPPLY]
        self.send(DSO, "EnergyToken", "topUp", supply, 50 * EUR, keccak(text="supply float"))
        # The tariff schedule: pay-as-bid from slot 3, community from 5, a new uniform tariff
        # from 6 that replaces (withdraws) a first version.
        schedule = [
            (3, base_rules("pay-as-bid")),
            (5, base_rules("community")),
            (6, base_rules("uniform", trade_fee_buy=7_000)),
            (6, base_rules("uniform", trade_fee_buy=6_000, grid_fee=90_000)),
        ]
        for start, rules in schedule:
            self.send(DSO, "Community", "scheduleTariff", start, encode_rules(rules))
        # Battery leases, charged by each close: dave's (short of money, part of it becomes
        # debt) and bob's, which ends after the first period.
        self.send(DSO, "ProfitSharing", "setLease", self.members["dave"], EUR // 2)
        self.send(DSO, "ProfitSharing", "setLease", self.members["bob"], EUR // 4)

    def fund(self, address: str) -> None:
        """Ether for a member that sends its own transactions from its key."""
        self.node.w3.eth.send_transaction(
            {
                "from": self.accounts[DSO],
                "to": address,
                "value": Wei(10**18),
                "gasPrice": Wei(self.node.gas_price_wei),
            }
        )

    def sign(
        self, slot: int, name: str, side: str, energy: int, price: int, late: int = 0
    ) -> SignedIntent:
        """`name`'s intent for `slot`, signed with its key under its current epoch, valid until
        `late` seconds after the slot's delivery ends."""
        member = self.members[name]
        epoch = int(self.call("Settlement", "intentEpoch", member))
        deadline = int(self.call("Community", "slotStart", slot + 1)) + late
        intent = Intent(member, slot, side, energy, price, epoch, deadline)
        typed = intent_typed_data(
            intent, self.node.manifest.chain_id, self.node.manifest.contracts["Settlement"]
        )
        return SignedIntent(intent, sign_typed_data(typed, MEMBER_KEYS[name]))

    def sign_intents(self, slot: int) -> None:
        """The slot's intents into the pool (a revoked one first, then its holder's revocation),
        each valid a second longer than the one before (distinct deadlines: the audit's tests
        can let exactly one expire)."""
        pending = self.pool.intents.setdefault(slot, [])
        if slot == REVOKED[0]:
            name = REVOKED[1][0]
            pending.append(self.sign(slot, *REVOKED[1]))
            self.send(MEMBER_KEYS[name], "Settlement", "revokeIntents")
        pending += [
            self.sign(slot, *terms, late=k) for k, terms in enumerate(INTENTS.get(slot, []))
        ]

    def meter_id(self, name: str) -> bytes:
        return keccak(text=f"meter {name}")

    def place_orders(self, slot: int) -> None:
        if slot == 1:  # alice's standing sell order for slots 1 and 2
            self.send(
                self.members["alice"], "OrderBook", "placeStandingOrder", 1, 2, 1, 2000, 80_000
            )
            # dave places a buy and cancels it
            receipt = self.send(
                self.members["dave"], "OrderBook", "placeOrder", 1, SIDE_CODES["buy"], 10, 70_000
            )
            book = self.node.contract("OrderBook")
            (placed,) = book.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
            self.send(self.members["dave"], "OrderBook", "cancelOrder", placed["args"]["id"])
        for name, side, energy, price in ORDERS.get(slot, []):
            self.send(
                self.members[name], "OrderBook", "placeOrder", slot, SIDE_CODES[side], energy, price
            )

    def settle_meters(self, slot: int) -> None:
        """Readings for `slot` signed by the meters and relayed by the oracle, then the
        imbalance settled from what the chain committed."""
        readings = READINGS.get(slot, {})
        words: list[int] = []
        if readings:
            batch, signatures = [], []
            chain_id = self.node.manifest.chain_id
            address = self.node.manifest.contracts["MeterReadings"]
            for name, (imported, exported) in readings.items():
                self.sequence += 1
                r = Reading(self.meter_id(name), slot, imported, exported, self.sequence)
                batch.append(r.as_tuple())
                signatures.append(
                    sign_typed_data(reading_typed_data(r, chain_id, address), self.meter_keys[name])
                )
                words.append(pack_reading_word(self.members[name], imported, exported))
            self.send(ORACLE, "MeterReadings", "submitReadings", batch, signatures)
        rules = decode_rules(self.call("Community", "tariffAt", slot))
        book, _clearing, sub = clear_slot(
            self.call("OrderBook", "slotBook", slot),
            self.call("OrderBook", "slotOrderIds", slot),
            rules,
            self.pool.batch(slot),
        )
        trades = trade_words(book.entries, sub.fills)
        by_chunk: dict[int, list[int]] = {}
        for word in words:
            chunk = int(self.call("Community", "chunkOf", word_member(word)))
            by_chunk.setdefault(chunk, []).append(word)
        # One transaction per chunk of members (CLOSE_CHUNK members each), every chunk each slot.
        for chunk in range(int(self.call("Community", "chunkCount"))):
            if int(self.call("ImbalanceSettlement", "nextSlotOf", chunk)) != slot:
                continue
            chunk_words = by_chunk.get(chunk, [])
            members = [p.member for p in positions(chunk_words, trades)]
            self.send(
                MATCHER,
                "ImbalanceSettlement",
                "settleImbalance",
                slot,
                chunk,
                members,
                chunk_words,
                trades,
            )

    def close_period(self, period: int) -> None:
        """Close `period` in chunks of `CLOSE_CHUNK` members, ascending."""
        current = sorted(
            (m for m in self.members.values() if int(self.call("Community", "memberRole", m))),
            key=lambda a: int(a, 16),
        )
        for start in range(0, len(current), CLOSE_CHUNK):
            chunk = current[start : start + CLOSE_CHUNK]
            self.send(DSO, "ProfitSharing", "closePeriod", period, chunk)

    def run(self) -> None:
        """The whole scenario; the chain's time is moved, never waited for."""
        self.setup()
        matcher = Matcher(self.node, Sender(self.accounts[MATCHER]), self.pool)
        start = lambda s: int(self.call("Community", "slotStart", s))  # noqa: E731
        for slot in range(SLOTS):
            if slot + 1 < SLOTS:
                self.place_orders(slot + 1)
            if slot == 2:  # frank leaves inside his lock-in: penalty
                self.send(self.members["frank"], "Membership", "requestExit")
            self.advance_to(int(self.call("Community", "gateClosure", slot + 1)))
            if slot + 1 in INTENTS:
                self.sign_intents(slot + 1)
            matcher.run_once()
            self.advance_to(start(slot + 1))
            self.settle_meters(slot)
            if slot == 3:
                self.close_period(0)
                self.send(DSO, "ProfitSharing", "setLease", self.members["bob"], 0)
                self.send(
                    self.members["alice"], "EnergyToken", "redeem", EUR, keccak(text="payout")
                )
            if slot == 4:  # dave's debt is repaid from his next top-up
                self.send(
                    DSO,
                    "EnergyToken",
                    "topUp",
                    self.members["dave"],
                    5 * EUR,
                    keccak(text="dave 2"),
                )
                self.send(DSO, "Membership", "completeExit", self.members["frank"])
        self.close_period(1)
        revoked = self.pool.intents[REVOKED[0]][0].intent.id
        left_out = {slot: left for slot, left in self.pool.left_out.items() if left}
        assert left_out == {REVOKED[0]: {revoked: "revoked"}}, left_out
        carried = {slot: len(self.pool.included[slot]) for slot in INTENTS}
        assert carried == {slot: len(terms) for slot, terms in INTENTS.items()}, carried


def settings_for(chain: DevChain) -> Settings:
    return Settings(
        deployments_dir=chain.deployments_dir,
        rpc_retry_initial_seconds=0.05,
        rpc_retry_max_seconds=0.2,
    )


def run_scenario(chain: DevChain) -> Node:
    node = Node.from_settings(chain.network_id, settings_for(chain))
    Community(node).run()
    return node


def audit_env(chain: DevChain) -> Mapping[str, str]:
    """Environment for a `gridshare audit` subprocess on the scenario's chain."""
    return {
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
    }


def record(node: Node, out: str) -> None:
    """Write every event of `node`'s deployment and the state at its last block to `out`."""
    from audit.fetch import fetch_events, fetch_state
    from audit.model import dump_events

    block = node.block_number()
    events = fetch_events(node, block, 5_000)
    Path(out).write_text(dump_events(events, fetch_state(node, events, block)) + "\n")
    print(f"{len(events)} events recorded in {out}")


def main(out: str) -> None:
    with TemporaryDirectory() as tmp, scenario_chain(Path(tmp)) as chain:
        record(run_scenario(chain), out)


if __name__ == "__main__":
    main(sys.argv[1])
