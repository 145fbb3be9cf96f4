"""Gas benchmark of placing orders and settling slots: `make bench`
(`brownie run scripts/bench_gas.py --network ganache-cli`).

Measures `gas_per_order_placed` (direct and relayed) and `gas_per_member_slot_trades_settled` with
50, 200 and 1,000 members in one slot (one order each; half buy, half sell, prices that cross),
against a plain ERC-20 transfer as the naive per-trade baseline.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

from brownie import accounts, chain, network
from eth_account import Account

from bench.report import record
from chain.codec import decode_rules
from chain.signing import (
    OrderIntent,
    Reading,
    order_typed_data,
    sign_typed_data,
)
from chain.submission import clear_slot
from gridshare.settings import Settings, load_settings
from scripts.deploy import DEV_GAS_PRICE, Deployment, deploy
from scripts.slot_flow import settle_slot

MEMBER_COUNTS = (50, 200, 1000)
TOP_UP = 50 * 10**9
QUIET = {"silent": True}


def _deploy(settings: Settings) -> Deployment:
    return deploy(
        settings,
        accounts[0],
        oracle=accounts[1].address,
        matcher=accounts[2].address,
        fee_account=accounts[3].address,
        network_account=accounts[4].address,
        supply_account=accounts[8].address,
    )


def _metered_slots(settings: Settings, n: int, rng: random.Random) -> dict[str, Any]:
    """n members with one meter each; two consecutive slots in which every member trades (half
    buy, half sell) and reports a reading. The second slot is the steady state: each meter's
    replay-protection word already exists."""
    dep = _deploy(settings)
    members = _members(dep, n, rng)
    meters: dict[str, Any] = {}
    for i, m in enumerate(members):
        meter = Account.create(str(rng.random()))
        meter_id = f"bench-meter-{i}".encode().ljust(32, b"\0")
        dep.community.registerMeter(
            meter_id, m.address, meter.address, {"from": accounts[0], **QUIET}
        )
        meters[m.address] = (meter_id, meter.key, 0)
    dep.token.topUp(
        accounts[8], 10**6 * 10**9, b"bench-supply".ljust(32, b"\0"), {"from": accounts[0], **QUIET}
    )
    first = int(dep.community.currentSlot()) + 2
    t = settings.tariff
    for slot in (first, first + 1):
        for i, m in enumerate(members):
            side = "buy" if i % 2 == 0 else "sell"
            mid = (t.feed_in_price + t.retail_price) // 2
            price = (
                rng.randint(mid - 20_000, t.retail_price)
                if side == "buy"
                else rng.randint(t.feed_in_price, mid + 20_000)
            )
            _relay(dep, m, slot, side, rng.randint(200, 3_000), price, nonce=slot)
    flow = {"oracle": accounts[1], "matcher": accounts[2], "tx_options": QUIET}
    for slot in range(int(dep.imbalance.nextSlot()), first):
        settle_slot(dep, slot, [], **flow)
    out: dict[str, Any] = {}
    for label, slot in (("first", first), ("steady", first + 1)):
        readings = []
        for m in members:
            meter_id, key, seq = meters[m.address]
            r = Reading(meter_id, slot, rng.randint(0, 3_000), rng.randint(0, 3_000), seq + slot)
            readings.append((r, key))
        out[label] = settle_slot(dep, slot, readings, **flow).gas
    return out


def _members(dep: Deployment, n: int, rng: random.Random) -> list[Any]:
    """n fresh members (prosumers), topped up, with keys for signing; they never hold ether."""
    dso = accounts[0]
    members = [Account.create(str(rng.random())) for _ in range(n)]
    for i, m in enumerate(members):
        dep.community.registerMember(m.address, 2, 0, {"from": dso, **QUIET})
        ref = f"{dep.token.address[:8]}{i}".encode().ljust(32, b"\0")
        dep.token.topUp(m.address, TOP_UP, ref, {"from": dso, **QUIET})
    return members


def _relay(
    dep: Deployment, member: Any, slot: int, side: str, energy: int, price: int, nonce: int
) -> Any:
    intent = OrderIntent(member.address, slot, slot, side, energy, price, nonce, 2**40)
    data = order_typed_data(intent, chain.id, dep.order_book.address)
    signature = sign_typed_data(data, member.key)
    return dep.order_book.placeOrderWithSig(
        intent.as_tuple(), signature, {"from": accounts[5], **QUIET}
    )


def _settle(dep: Deployment, slot: int) -> tuple[int, int]:
    """Close the gate, clear with the rulebook, settle. Returns (gas used, volume Wh)."""
    chain.sleep(int(dep.community.gateClosure(slot)) - chain.time() + 1)
    chain.mine()
    rules = decode_rules(dep.community.tariffAt(slot))
    _, clearing, submission = clear_slot(
        dep.order_book.slotBook(slot), dep.order_book.slotOrderIds(slot), rules
    )
    tx = dep.settlement.settleSlot(slot, *submission.args(), {"from": accounts[2], **QUIET})
    return int(tx.gas_used), clearing.volume_wh


def _slot_with_members(settings: Settings, n: int, rng: random.Random) -> tuple[int, int, int]:
    dep = _deploy(settings)
    members = _members(dep, n, rng)
    slot = int(dep.community.currentSlot()) + 2
    t = settings.tariff
    for i, m in enumerate(members):
        side = "buy" if i % 2 == 0 else "sell"
        lo, hi = (t.feed_in_price, t.retail_price)
        mid = (lo + hi) // 2
        price = rng.randint(mid - 20_000, hi) if side == "buy" else rng.randint(lo, mid + 20_000)
        _relay(dep, m, slot, side, rng.randint(200, 3_000), price, nonce=0)
    gas, volume = _settle(dep, slot)
    empty = int(dep.community.currentSlot()) + 2
    empty_gas, _ = _settle(dep, empty)
    return gas, volume, empty_gas


def main() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    network.gas_price(DEV_GAS_PRICE)
    rng = random.Random(20261121)
    settings = load_settings()
    figures: dict[str, Any] = {}

    # Orders: the 2nd..11th order of a slot (the first pays for the slot's new storage).
    dep = _deploy(settings)
    members = _members(dep, 12, rng)
    slot = int(dep.community.currentSlot()) + 2
    direct_funder = accounts[6]
    direct_member = accounts.add(members[0].key)
    direct_funder.transfer(direct_member, "1 ether", silent=True)
    _relay(dep, members[1], slot, "sell", 1000, 100_000, nonce=0)
    direct = [
        dep.order_book.placeOrder(slot, 0, 1000, 150_000, {"from": direct_member, **QUIET}).gas_used
        for _ in range(5)
    ]
    relayed = [
        _relay(dep, members[2 + i], slot, "buy", 1000, 150_000, nonce=0).gas_used for i in range(10)
    ]
    sell = [
        dep.order_book.placeOrder(slot, 1, 1000, 100_000, {"from": direct_member, **QUIET}).gas_used
        for _ in range(5)
    ]
    funded = members[3].address  # holds tokens: its balance goes non-zero to non-zero
    transfer = dep.token.transfer(funded, 10**9, {"from": direct_member, **QUIET}).gas_used
    transfer_fresh = dep.token.transfer(
        accounts[7], 10**9, {"from": direct_member, **QUIET}
    ).gas_used
    figures["gas_per_order_placed_direct_buy"] = sum(direct) // len(direct)
    figures["gas_per_order_placed_direct_sell"] = sum(sell) // len(sell)
    figures["gas_per_order_placed_relayed_buy"] = sum(relayed) // len(relayed)
    figures["erc20_transfer_gas (baseline, to a funded / empty account)"] = (
        f"{transfer:,} / {transfer_fresh:,}"
    )

    for n in MEMBER_COUNTS:
        gas, volume, empty_gas = _slot_with_members(settings, n, rng)
        figures[f"gas_per_member_slot_trades_settled_{n}_uniform"] = gas // n
        figures[f"settle_tx_gas_{n}_uniform (volume Wh)"] = f"{gas:,} ({volume:,} Wh)"
        figures["settle_tx_gas_empty_slot"] = empty_gas
        figures[f"marginal_gas_per_member_{n}_uniform"] = (gas - empty_gas) // n
    for mode in ("pay-as-bid", "community"):
        mode_settings = settings.model_copy(
            update={"tariff": settings.tariff.model_copy(update={"mode": mode})}
        )
        gas, volume, _ = _slot_with_members(mode_settings, 200, rng)
        figures[f"gas_per_member_slot_trades_settled_200_{mode}"] = gas // 200

    metered = _metered_slots(settings, 200, rng)
    steady, first = metered["steady"], metered["first"]
    figures["gas_per_reading_200_batched (steady / a meter's first reading)"] = (
        f"{steady['readings'] // 200:,} / {first['readings'] // 200:,}"
    )
    figures["gas_per_member_slot_imbalance_200"] = steady["imbalance"] // 200
    figures["gas_per_member_slot_trades_200_in_metered_run"] = steady["trades"] // 200
    figures["gas_per_member_slot_settled_200 (trades + reading + imbalance + fees)"] = (
        sum(steady.values()) // 200
    )

    record(
        "gas: orders, trade settlement, readings and imbalance (issues 2, 3)",
        "make bench  (brownie run scripts/bench_gas.py --network ganache-cli)",
        figures,
        NOTES,
    )
    for k, v in figures.items():
        print(f"{k}: {v}")


NOTES = """
Goals: issue 2, trade settlement <= 12k gas per member-slot; issue 3, trades + reading +
imbalance + fees <= 12k per member-slot at 200 members (see the numbers below each run).

Goal (issue 2): settlement including the on-chain clearing check <= 12k gas per member-slot.
Uniform mode lands under it from a few hundred members on (the fixed ~113k per slot, mostly the
21k base cost, cross-contract calls and three fresh storage words, is spread over fewer members
below that); pay-as-bid is cheaper because fully filled buyers get no refund transfer; community
mode costs ~1.5k more per member for its three pro-rata passes.

Setting: ganache 7.9.2 (shanghai), solc 0.8.28 optimizer 100,000 runs, default tariff. Each
member has one order in the slot (half buy, half sell, crossing prices, 200..3,000 Wh); orders
are relayed (EIP-712), so members hold no ether. Per member-slot = settle transaction gas /
members; it includes the 21,000 base cost, the on-chain re-check of the clearing (O(n), no
sorting), the payout of every seller and every buyer's unused escrow, the two DSO fee credits
and the `SlotSettled` event carrying all fills; "marginal" leaves out the empty-slot cost.

Where the gas goes per member (uniform): one cold SLOAD of the packed order word (2,100), one
balance write of the member (cold, non-zero to non-zero: 5,000; 22,100 from zero), an ERC-20
`Transfer` event (~1,800), calldata and event data for the fill (~400) and the verification and
payout arithmetic plus ABI copies between OrderBook, Settlement and the token (~1,500; payouts
travel packed as one word each). The naive design, one ERC-20 transfer per trade, costs the
baseline above per trade (about 34k to a funded account, 51k to an empty one) before any
verification or fee handling; here a whole member-slot, verification included, costs about a
third of that.
"""
