"""Gas of the calls that share the sorted-address search and of relayed flexibility offers:
`brownie run scripts/bench_gas_flex.py --network <a private ganache network>`.

Measures, on one deployment with `MEMBERS` metered members (one meter each):
- `settleImbalance` of a slot in which every member has a reading and a trade (steady state),
  per member (the search runs once per reading and once per trade word);
- `settleRequest` of a flexibility request with `OFFERS` accepted offers, whose slot has a
  reading of every member (the search runs once per reading word over the accepted members);
- an offer made directly (`offer`, the member pays gas) and relayed (`offerWithSig`, when the
  contract has it).
Prints the figures and records them in bench/results.json and docs/benchmarks.md (section
SECTION; NOTES carry the figures before the shared search and the relayed offers, measured with
this command on the commit before them).
"""

from __future__ import annotations

import random
import warnings
from typing import Any

from brownie import accounts, chain, network
from eth_account import Account

from bench.gas import QUIET, _deploy, _members, _relay
from bench.report import record
from chain.flexibility import (
    FlexRequest,
    acceptance,
    accepted_indexes,
    decode_offers,
    segment_slots,
    settlement_words,
)
from chain.metering import pack_reading_word
from chain.signing import FlexOfferIntent, Reading, flex_offer_typed_data, sign_typed_data
from gridshare.settings import load_settings
from scripts.deploy import DEV_GAS_PRICE
from scripts.slot_flow import settle_slot, sleep_until

MEMBERS = 100
OFFERS = 10
SECTION = "gas: flexibility offers and the sorted-address search (issue 10)"
COMMAND = (
    "brownie run scripts/bench_gas_flex.py --network ganache-cli"
    " (or a private network with its settings: README)"
)
NOTES = """
Setting: ganache 7.9.2 (shanghai), solc 0.8.28 optimizer 100,000 runs, default settings (30-minute
slots, 10 lookback days); 100 members with one meter each. `settleImbalance`: a slot in which every
member has a reading and a trade (steady state). `settleRequest`: 10 accepted offers, a reading of
every member in the delivered slot (no history: nothing measured, the search still runs once per
reading word). Offers: the same 10 offers made directly (member pays gas) and relayed.

Before (commit 094f465: a private binary search in each of Flexibility and ImbalanceSettlement,
no relayed offers), same command: settleImbalance 3,283,187 (32,831 per member), settleRequest
424,115, direct offer 86,568 (mean of 10). After: see the table. ImbalanceSettlement now copies
the calldata member list to memory once and searches memory (SortedAddresses.find): -168,544 gas
(-5.1 %) at 100 members (most likely: a calldata probe pays offset, bounds and address checks).
Flexibility already searched memory: settleRequest -212, direct offer +54 (the shared `_offer`).
A relayed offer costs about 32k more than a direct one (signature recovery, the nonce word, the
FlexOfferSigned event, the intent's calldata), paid by the relayer.

Re-run after OrderBook's relayed orders moved onto SignedNonces (Flexibility's code unchanged;
table above). Offers are unchanged: direct 86,622, relayed 118,920 to 118,924 in the three runs
before it. settleRequest and settleImbalance vary between runs of the same contracts: main's
measured 425,971 and 3,114,859 (13:55), this branch 426,657 / 3,114,643 and 427,028 / 3,114,679
(recorded at 13:23: 423,903 / 3,114,643); most likely the run's slots, which follow the wall
clock. Differences of a few thousand gas in these two rows are not a code change.
"""


def main() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    network.gas_price(DEV_GAS_PRICE)
    rng = random.Random(20261121)
    settings = load_settings()
    dep = _deploy(settings)
    members = _members(dep, MEMBERS, rng)
    dso, matcher, oracle = accounts[0], accounts[2], accounts[1]
    meters = {}
    for i, m in enumerate(members):
        meter = Account.create(str(rng.random()))
        meter_id = f"flex-meter-{i}".encode().ljust(32, b"\0")
        dep.community.registerMeter(meter_id, m.address, meter.address, {"from": dso, **QUIET})
        meters[m.address] = (meter_id, meter.key)
    dep.token.topUp(accounts[8], 10**15, b"flex-supply".ljust(32, b"\0"), {"from": dso, **QUIET})
    dep.token.topUp(accounts[4], 10**15, b"flex-network".ljust(32, b"\0"), {"from": dso, **QUIET})

    target = int(dep.community.currentSlot()) + 3
    gate = int(dep.community.slotStart(target)) - 600
    tx = dep.flexibility.publishRequest(target, 0, 10_000, 200_000, gate, {"from": dso, **QUIET})
    rid = int(tx.return_value)
    # Trades in the slot after the target (orders placed while its gate is open), so that the
    # imbalance measured there searches reading and trade words.
    for i, m in enumerate(members):
        side = "buy" if i % 2 == 0 else "sell"
        _relay(dep, m, target + 1, side, rng.randint(200, 3_000), 120_000, nonce=target)
    direct, relayed = [], []
    for i, m in enumerate(members[:OFFERS]):
        account = accounts.add(m.key)
        accounts[6].transfer(account, "1 ether", silent=True)
        tx = dep.flexibility.offer(
            rid, 500 + 100 * i, 100_000 + 1_000 * i, {"from": account, **QUIET}
        )
        direct.append(tx)
    sleep_until(gate + 1)
    req = FlexRequest.from_call(rid, dep.flexibility.requestOf(rid))
    words = list(dep.flexibility.offersOf(rid))
    accepted = acceptance(req, words)
    dep.flexibility.acceptOffers(rid, accepted, {"from": matcher, **QUIET})

    flow = {"oracle": oracle, "matcher": matcher, "tx_options": QUIET}
    for slot in range(int(dep.imbalance.nextSlot()), target):
        settle_slot(dep, slot, [], **flow)
    readings = {}
    for slot in (target, target + 1):
        signed = []
        for m in members:
            meter_id, key = meters[m.address]
            r = Reading(meter_id, slot, rng.randint(0, 3_000), rng.randint(0, 3_000), slot)
            signed.append((r, key))
        result = settle_slot(dep, slot, signed, **flow)
        readings[slot] = [
            pack_reading_word(e["member"], e["importWh"], e["exportWh"])
            for tx in result.reading_txs
            for e in tx.events["ReadingAccepted"]
        ]
        if slot == target + 1:
            imbalance = result.gas["imbalance"]
    slots = segment_slots(target, settings.slot_seconds, settings.flex_lookback_days)
    flex_words, counts = settlement_words(slots, lambda s: readings.get(s, []))
    indexes = accepted_indexes(decode_offers(words), accepted)
    settle = dep.flexibility.settleRequest(
        rid, accepted, indexes, flex_words, counts, {"from": matcher, **QUIET}
    )
    if hasattr(dep.flexibility, "offerWithSig"):
        # The same offers relayed, on a second request published once the first is settled (so
        # it changes nothing measured above).
        later = int(dep.community.currentSlot()) + 3
        gate = int(dep.community.slotStart(later)) - 600
        tx = dep.flexibility.publishRequest(later, 0, 10_000, 200_000, gate, {"from": dso, **QUIET})
        other = int(tx.return_value)
        for i, m in enumerate(members[:OFFERS]):
            intent = FlexOfferIntent(m.address, other, 500 + 100 * i, 100_000 + 1_000 * i, i, 2**40)
            typed = flex_offer_typed_data(intent, chain.id, dep.flexibility.address)
            signature = sign_typed_data(typed, m.key)
            relayed.append(
                dep.flexibility.offerWithSig(
                    intent.as_tuple(), signature, {"from": accounts[5], **QUIET}
                )
            )
    figures: dict[str, Any] = {
        f"settleImbalance_gas_{MEMBERS}_members (per member)": (
            f"{imbalance:,} ({imbalance // MEMBERS:,})"
        ),
        f"settleRequest_gas_{OFFERS}_accepted_{MEMBERS}_readings": f"{settle.gas_used:,}",
        "offer_gas_direct (mean)": sum(t.gas_used for t in direct) // len(direct),
    }
    if relayed:
        figures["offerWithSig_gas_relayed (mean)"] = sum(t.gas_used for t in relayed) // len(
            relayed
        )
    record(SECTION, COMMAND, figures, NOTES)
    for k, v in figures.items():
        print(f"{k}: {v}")
