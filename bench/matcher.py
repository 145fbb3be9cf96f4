"""Matcher benchmark: `make bench-matcher` (`python -m bench.matcher`; `--clear-only` measures
only the clearing figures, in a minute, and keeps the slot settlement's figures of the last run).

* `clear_1m_orders_s`: the numpy clearing core `market.fastclear.clear_columns` on 1,000,000
  random orders given as columns, in uniform mode, one core, median of 3 runs (building the
  columns is not timed). The columns come in id order, as a slot's book does from the chain;
  the same book shuffled is measured as well. `clear_1m_orders_reference_s` is the rulebook's
  reference `market.clearing.clear` on the same book as `Order` objects (building them is not
  timed), and both must give the same volume, fills and amounts.
* `slot_settle_1000_members_s`: wall time from the block that closes a 1,000-member slot's gate
  to the confirmed settlement, through the matcher's own code path (`Matcher.run_once`: find the
  due slot, read book and tariff, clear, encode, estimate, sign, send, wait for the receipt), on
  a ganache started for the purpose on a free port. Setting up the 1,000 members takes minutes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from eth_account import Account

from bench.report import record, recorded
from chain.devchain import (
    close_gate,
    dev_accounts,
    dev_chain,
    dev_sender,
    nonce_of,
    send_unlocked,
    wait_for_nonce,
)
from chain.gateway import CommunityGateway, EnergyTokenGateway, OrderBookGateway
from chain.intents import Intent, SignedIntent, intent_typed_data
from chain.node import ContractCall, Node, Sender
from chain.signing import OrderIntent, order_typed_data, sign_typed_data
from gridshare.settings import Settings, TariffSettings, load_settings
from market.clearing import Clearing, Mode, clear
from market.fastclear import ColumnClearing, clear_columns, columns_of
from market.orders import Order, Side
from matcher.service import Matcher

ORDERS = 1_000_000
RUNS = 3
MEMBERS = 1_000
TOP_UP = 50 * 10**9  # n€
SETUP_GAS = 1_000_000  # per setup transaction, not estimated (set-up speed only)
SECTION = "matcher: clearing speed and slot settlement latency (issue 4)"

T = TypeVar("T")


def random_book(n: int, rng: random.Random, settings: Settings) -> list[Order]:
    """n orders, half buy half sell, limits within the tariff's bounds so that about half cross."""
    lo, hi = settings.tariff.feed_in_price, settings.tariff.retail_price
    mid = (lo + hi) // 2
    orders = []
    for i in range(n):
        buy = rng.random() < 0.5
        price = rng.randint(mid - 20_000, hi) if buy else rng.randint(lo, mid + 20_000)
        side = Side.BUY if buy else Side.SELL
        orders.append(Order(i + 1, side, rng.randint(100, 5_000), price, "0x" + "00" * 20))
    return orders  # in id order, as a slot's book comes from the chain


def timed(run: Callable[[], T]) -> tuple[float, list[float], T]:
    """Median and all times of RUNS runs of `run`, and its last result."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def check_same(reference: Clearing, core: ColumnClearing) -> None:
    """The core's uniform clearing equals the reference's: price, volume, every fill and amount."""
    assert core.clearing_price == reference.clearing_price
    assert core.volume_wh == reference.volume_wh
    assert core.ids.tolist() == list(reference.fills)
    fills = [(f.filled_wh, f.amount) for f in reference.fills.values()]
    assert list(zip(core.filled_wh.tolist(), core.amounts.tolist(), strict=True)) == fills


def clearing_figures(orders: list[Order]) -> dict[str, Any]:
    """`clear_1m_orders_*`: the numpy core on columns and the reference on `Order` objects, the
    book in id order and shuffled; both must agree on each."""
    # Not part of the core's time: a slot's book comes from the chain as words, not as Orders.
    columns_built, _, columns = timed(lambda: columns_of(orders))
    core, core_runs, core_result = timed(lambda: clear_columns(*columns, Mode.UNIFORM))
    reference, reference_runs, reference_result = timed(lambda: clear(orders, Mode.UNIFORM))
    check_same(reference_result, core_result)
    shuffle = np.random.default_rng(5).permutation(len(orders))
    orders = [orders[k] for k in shuffle]  # both must sort by id themselves
    ids, sides, energy, prices = (column[shuffle] for column in columns)
    core_shuffled, _, shuffled_result = timed(
        lambda: clear_columns(ids, sides, energy, prices, Mode.UNIFORM)
    )
    reference_shuffled, _, reference_result = timed(lambda: clear(orders, Mode.UNIFORM))
    check_same(reference_result, shuffled_result)
    return {
        "clear_1m_orders_s (numpy core on columns)": round(core, 3),
        "clear_1m_orders_runs_s": ", ".join(f"{t:.3f}" for t in core_runs),
        "clear_1m_orders_shuffled_s (columns out of id order)": round(core_shuffled, 3),
        "clear_1m_orders_volume_wh": f"{core_result.volume_wh:,}",
        "clear_1m_orders_reference_s (market.clearing.clear on Order objects)": round(reference, 3),
        "clear_1m_orders_reference_runs_s": ", ".join(f"{t:.3f}" for t in reference_runs),
        "clear_1m_orders_reference_shuffled_s (arriving out of id order)": round(
            reference_shuffled, 3
        ),
        "clear_1m_orders_columns_from_orders_s (not in the core's time)": round(columns_built, 3),
    }


def crossing_order(index: int, rng: random.Random, tariff: TariffSettings) -> tuple[str, int, int]:
    """Order `index` of a slot in which about half the orders cross: even ones buy, odd ones
    sell, limits within the tariff's bounds around its middle, 200..3,000 Wh. Returns (side,
    energy Wh, limit price n€/Wh)."""
    lo, hi = tariff.feed_in_price, tariff.retail_price
    mid = (lo + hi) // 2
    side = "buy" if index % 2 == 0 else "sell"
    price = rng.randint(mid - 20_000, hi) if side == "buy" else rng.randint(lo, mid + 20_000)
    return side, rng.randint(200, 3_000), price


def crossing_intents(
    node: Node, keys: Sequence[Any], slot: int, tariff: TariffSettings, rng: random.Random
) -> list[SignedIntent]:
    """One intent of each member in `keys` for `slot` (`crossing_order`, member i as order i),
    signed by the member for the deployment's Settlement."""
    settlement = node.manifest.contracts["Settlement"]
    out = []
    for i, key in enumerate(keys):
        side, energy_wh, price = crossing_order(i, rng, tariff)
        intent = Intent(key.address, slot, side, energy_wh, price, 0, 2**40)
        typed = intent_typed_data(intent, node.manifest.chain_id, settlement)
        out.append(SignedIntent(intent, sign_typed_data(typed, key.key)))
    return out


def send_setup(node: Node, sender: str, fn: ContractCall, nonce: int) -> None:
    """A set-up transaction from an unlocked account, with an explicit nonce and gas, so that
    set-up costs one request per transaction (ganache mines each one as it arrives)."""
    send_unlocked(node, sender, fn, nonce=nonce, gas=SETUP_GAS)


def register_members(
    node: Node, count: int, rng: random.Random, label: str
) -> tuple[list[Any], int]:
    """Send the DSO's transactions that register `count` fresh keyed prosumers and top each up
    with TOP_UP (payment references `<label>-<i>`); returns their keys and the DSO's next nonce
    (the transactions may still be in flight)."""
    dso = dev_accounts(node)[0]
    community, token = CommunityGateway(node), EnergyTokenGateway(node)
    keys = [Account.create(str(rng.random())) for _ in range(count)]
    nonce = nonce_of(node, dso, pending=True)
    for i, key in enumerate(keys):
        send_setup(node, dso, community.register_member_call(key.address, "prosumer", 0), nonce)
        ref = f"{label}-{i}".encode().ljust(32, b"\0")
        send_setup(node, dso, token.top_up_call(key.address, TOP_UP, ref), nonce + 1)
        nonce += 2
    return keys, nonce


def registered_members(node: Node, count: int, rng: random.Random, label: str) -> list[Any]:
    """`register_members`, waiting until the set-up transactions are mined; returns the keys
    (members that never send a transaction themselves)."""
    keys, nonce = register_members(node, count, rng, label)
    wait_for_nonce(node, dev_accounts(node)[0], nonce)
    return keys


def _slot_with_members(node: Node, settings: Settings, rng: random.Random) -> int:
    """Register and top up MEMBERS fresh members and relay one signed order of each into one
    slot whose gate is open; every earlier slot is settled. Returns the slot."""
    accounts = dev_accounts(node)
    relayer = accounts[5]
    book = OrderBookGateway(node)
    keys, _ = register_members(node, MEMBERS, rng, "bench-matcher")
    matcher = Matcher(node, Sender(accounts[2]))
    slot = matcher.community_gw.current_slot() + 2
    close_gate(node, slot - 1)
    matcher.run_once()  # settle everything before the measured slot
    relayer_nonce = nonce_of(node, relayer, pending=True)
    for i, key in enumerate(keys):
        side, energy_wh, price = crossing_order(i, rng, settings.tariff)
        intent = OrderIntent(key.address, slot, slot, side, energy_wh, price, 0, 2**40)
        signature = sign_typed_data(
            order_typed_data(intent, node.manifest.chain_id, book.address), key.key
        )
        fn = book.place_order_with_sig_call(intent, signature)
        send_setup(node, relayer, fn, relayer_nonce + i)
    count = book.slot_order_count(slot)
    if count != MEMBERS:
        raise RuntimeError(f"slot {slot} has {count} orders, expected {MEMBERS}")
    return slot


def slot_settle_1000_members_s(settings: Settings) -> tuple[float, float, int, int]:
    """Returns (seconds from gate closure to receipt, set-up seconds, gas, volume Wh)."""
    with tempfile.TemporaryDirectory() as tmp, dev_chain(Path(tmp)) as chain:
        node_settings = settings.model_copy(update={"deployments_dir": Path(tmp)})
        node = Node.from_settings(chain.network_id, node_settings)
        started = time.perf_counter()
        slot = _slot_with_members(node, settings, random.Random(11))
        setup_s = time.perf_counter() - started
        matcher = Matcher(node, dev_sender(node, 2))
        matcher.run_once()  # warm: calendar and cursor, as in a running service
        close_gate(node, slot)
        start = time.perf_counter()
        results = matcher.run_once()
        elapsed = time.perf_counter() - start
    if [r.slot for r in results] != [slot] or results[0].gas_used is None:
        raise RuntimeError(f"expected slot {slot} to be settled alone, got {results}")
    return elapsed, setup_s, results[0].gas_used, results[0].volume_wh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clear-only",
        action="store_true",
        help="measure the clearing figures only; keep the recorded slot_settle_* figures",
    )
    clear_only = parser.parse_args().clear_only
    settings = load_settings()
    figures = clearing_figures(random_book(ORDERS, random.Random(4), settings))
    for name, value in figures.items():
        print(f"{name}: {value}")
    if clear_only:
        previous = recorded(SECTION) or {"figures": {}, "measured_at": "never"}
        settle = {k: v for k, v in previous["figures"].items() if k.startswith("slot_settle_")}
        settle.setdefault("slot_settle_1000_members_measured_at", previous["measured_at"])
        command = (
            "python -m bench.matcher --clear-only  (slot_settle_* figures: make bench-matcher)"
        )
    else:
        settle_s, setup_s, gas, settle_volume = slot_settle_1000_members_s(settings)
        print(f"slot_settle_1000_members_s: {settle_s:.3f} (set-up {setup_s:.0f} s, gas {gas:,})")
        settle = {
            "slot_settle_1000_members_s": round(settle_s, 3),
            "slot_settle_1000_members_gas (volume Wh)": f"{gas:,} ({settle_volume:,} Wh)",
            "slot_settle_1000_members_measured_at": datetime.now(UTC).strftime(
                "%Y-%m-%d %H:%M UTC"
            ),
        }
        command = "make bench-matcher  (python -m bench.matcher)"
    record(SECTION, command, {**figures, **settle}, NOTES)


NOTES = """
Goals: issue 4, `clear_1m_orders_s` <= 1 s and `slot_settle_1000_members_s` <= 5 s; issue 16,
`clear_1m_orders_s` <= 0.5 s with a compiled or vectorised core, the pure rulebook staying the
reference it is tested against.

`clear_1m_orders_s`: 1,000,000 orders (half buy, half sell, 100..5,000 Wh, limits within the
default tariff's bounds, about half crossing) given as four int64 numpy columns (ids, sides, Wh,
limits: what a slot's order words hold, with no `Order` object), cleared in uniform mode by
`market.fastclear.clear_columns`, one process, median of 3. Building the columns is not timed.
They come in id order, as a slot's book does from the chain; the `shuffled` figure is the same
rows permuted, which the core must sort by id first (the only sort it does in uniform mode).
`clear_1m_orders_reference_s` is `market.clearing.clear`, the rulebook's reference, on the same
book as `Order` objects (building them is not timed), median of 3, in id order and shuffled.
The benchmark asserts that both give the same price, volume and every fill and amount, in id
order and shuffled. `clear_1m_orders_columns_from_orders_s` is what turning the million
`Order` objects into the columns costs (`columns_of`, median of 3): not part of either time.

`python -m bench.matcher --clear-only` measures the clearing figures alone and keeps the
`slot_settle_*` figures of the last full run, whose date is `slot_settle_1000_members_measured_at`.

`slot_settle_1000_members_s`: ganache 7.9.2 (shanghai, started by the benchmark on a free
port), default settings, 1,000 members with one relayed order each in one slot. Timed from the
block that closes the gate to the settlement's receipt, through `Matcher.run_once`: due-slot
check, book and tariff reads, clearing, encoding, signing, sending, receipt (no gas estimate:
docs/decisions.md, "Matcher"). A running service adds up to one poll interval
(`matcher_poll_seconds`, default 5 s) before it notices the closed gate.

Clearing, the 2026-12-06 `--clear-only` run (load average about 0.9, this benchmark alone): the
core takes 0.081 s (runs 0.077-0.096 s), 0.181 s with the rows shuffled, so issue 16's goal is
met; the reference took 1.684 s on the same book (the 2026-11-21 run recorded 1.147 s; neither
the reference's code nor the book has changed since). One cProfile run of the core
(three clearings, before the recorded run, load average about 2.5): about three quarters of
its time is `_walk_end`, the reference's median-split search over the aggregate curves done on
arrays, most of the rest the fills; it sorts no column when the rows come in id order.
Building the columns from the `Order` objects took 0.415 s by itself, more than the core
takes, which fits the earlier finding that a numpy prototype of the search alone was no faster
once the lists were converted: the core takes the columns, never the objects. The reference's
~1.1 s of 2026-11-21 split into about 0.4 s turning the objects into columns and splitting the
sides, 0.4 s finding where the walk stops and 0.2 s filling the prefix.

Settlement (not re-measured by the `--clear-only` run; measured 2026-11-21): the goal is missed,
5.874 s. Ganache spends about 4.7 s executing and mining the 11.3M-gas transaction (its EVM runs
at roughly 2.4M gas/s here) and 1.2-1.4 s serving the two book reads; the Python side is well
under a second.
"""


if __name__ == "__main__":
    main()
