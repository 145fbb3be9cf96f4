"""`make demo`: one slot of a small energy community, end to end on a local chain.

Deploys the contracts, registers five households, tops them up, lets each sign an order (EIP-712;
a relayer places it, so households need no ether), closes the gate, clears the slot with the
rulebook module, settles it through the contracts (which re-check the clearing) and prints
balances before and after, with what the same energy would have cost without the market.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from brownie import accounts, chain, network
from rich.console import Console
from rich.table import Table

from chain.codec import ROLE_CODES, decode_rules
from chain.signing import OrderIntent, order_typed_data, sign_typed_data
from chain.submission import clear_slot
from gridshare.settings import load_settings
from market.billing import bau_cost
from scripts.deploy import DEV_GAS_PRICE, deploy

TOP_UP = 20 * 10**9  # 20 €


@dataclass(frozen=True)
class Household:
    name: str
    role: str
    side: str
    energy_wh: int
    limit: int  # n€/Wh (= µ€/kWh)


HOUSEHOLDS = [
    Household("Anna (PV 6 kWp)", "prosumer", "sell", 2_500, 100_000),
    Household("Ben (PV 4 kWp)", "prosumer", "sell", 1_500, 120_000),
    Household("Clara", "consumer", "buy", 2_000, 180_000),
    Household("David", "consumer", "buy", 1_500, 150_000),
    Household("Eva (PV + battery)", "prosumager", "buy", 1_000, 110_000),
]


def _kwh_price(price: int) -> str:
    """n€/Wh as €/kWh with 3 decimals (n€/Wh == µ€/kWh), integer arithmetic."""
    whole, frac = divmod(price, 10**6)
    return f"{whole}.{frac // 1000:03d} €/kWh"


def _cents(amount: int) -> str:
    """n€ as euros with 4 decimals (display only; amounts are exact n€ on-chain)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**9)
    return f"{sign}{whole}.{frac // 10**5:04d}"


def _kwh(wh: int) -> str:
    return f"{wh // 1000}.{wh % 1000 // 100} kWh"


def main() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)  # brownie's own rpc deprecations
    console = Console(width=118)
    network.gas_price(DEV_GAS_PRICE)
    settings = load_settings()
    dso, relayer = accounts[0], accounts[5]
    dep = deploy(
        settings,
        dso,
        oracle=accounts[1].address,
        matcher=accounts[2].address,
        fee_account=accounts[3].address,
        network_account=accounts[4].address,
    )
    rules = decode_rules(dep.community.tariffAt(0))
    tariff = rules.tariff
    wallets: list[Any] = []
    for i, h in enumerate(HOUSEHOLDS):
        wallet = accounts.add("0x" + f"{i + 1:02x}" * 32)
        dep.community.registerMember(wallet, ROLE_CODES[h.role], 0, {"from": dso})
        dep.token.topUp(wallet, TOP_UP, f"demo-topup-{i}".encode().ljust(32, b"\0"), {"from": dso})
        wallets.append(wallet)

    slot = int(dep.community.currentSlot()) + 2
    start = datetime.fromtimestamp(int(dep.community.slotStart(slot)), UTC)
    before = [int(dep.token.balanceOf(w)) for w in wallets]
    dso_before = [int(dep.token.balanceOf(a)) for a in (accounts[3], accounts[4])]
    for i, (h, wallet) in enumerate(zip(HOUSEHOLDS, wallets, strict=True)):
        intent = OrderIntent(
            wallet.address, slot, slot, h.side, h.energy_wh, h.limit, nonce=i, deadline=2**40
        )
        data = order_typed_data(intent, chain.id, dep.order_book.address)
        signature = sign_typed_data(data, wallet.private_key)
        dep.order_book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})

    # Gate closure: on a development chain we move time instead of waiting.
    chain.sleep(int(dep.community.gateClosure(slot)) - chain.time() + 1)
    chain.mine()
    book, clearing, submission = clear_slot(
        dep.order_book.slotBook(slot), dep.order_book.slotOrderIds(slot), rules
    )
    tx = dep.settlement.settleSlot(slot, *submission.args(), {"from": accounts[2]})
    after = [int(dep.token.balanceOf(w)) for w in wallets]
    dso_after = [int(dep.token.balanceOf(a)) for a in (accounts[3], accounts[4])]

    console.rule(f"gridshare demo: slot {slot}, delivery {start:%Y-%m-%d %H:%M} UTC")
    console.print(
        f"Mode [bold]{rules.mode}[/]; clearing price "
        f"[bold]{_kwh_price(clearing.clearing_price or 0)}[/]; "
        f"volume [bold]{_kwh(clearing.volume_wh)}[/]; "
        f"settlement gas {tx.gas_used:,} (verified on-chain)"
    )
    table = Table(
        title="Balances in prepaid tokens (1 token = 1 €); BaU = same energy via the grid"
    )
    columns = (
        "household",
        "order",
        "filled",
        "before €",
        "after €",
        "change €",
        "BaU €",
        "saved €",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "household" else "left")
    for h, order_id, b, a in zip(HOUSEHOLDS, book.ids, before, after, strict=True):
        filled = clearing.fills[order_id].filled_wh
        # Without the market the same Wh go to / come from the grid at the tariff.
        bau = -bau_cost(tariff, filled if h.side == "sell" else -filled)
        table.add_row(
            h.name,
            f"{h.side} {_kwh(h.energy_wh)} @ {_kwh_price(h.limit)}",
            _kwh(filled),
            _cents(b),
            _cents(a),
            _cents(a - b),
            _cents(bau),
            _cents(a - b - bau),
        )
    for label, b, a in zip(
        ("DSO platform fees", "DSO network charges"), dso_before, dso_after, strict=True
    ):
        table.add_row(label, "", "", _cents(b), _cents(a), _cents(a - b), "", "")
    console.print(table)
    supply = int(dep.token.totalSupply())
    held = sum(after) + sum(dso_after) + int(dep.token.balanceOf(dep.order_book))
    console.print(
        f"Token supply {_cents(supply)} € = sum of balances {_cents(held)} € "
        f"({'conserved' if supply == held else 'NOT CONSERVED'}); escrow left in the book: "
        f"{_cents(int(dep.order_book.escrowHeld()))} €"
    )
