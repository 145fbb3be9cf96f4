"""`make demo`: one slot of a small energy community, end to end on a local chain.

Deploys the contracts, registers five households and their meters, tops them up, lets each sign
an order (EIP-712; a relayer places it, so households need no ether), closes the gate, clears the
slot with the rulebook module and settles it through the contracts (which re-check the clearing).
After delivery each meter signs its reading, the oracle account relays them, and the slot's
imbalance settles against the meters. Prints each household's bill against business as usual.
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
from chain.signing import (
    OrderIntent,
    Reading,
    order_typed_data,
    sign_typed_data,
)
from gridshare.settings import load_settings
from scripts.deploy import DEV_GAS_PRICE, deploy
from scripts.slot_flow import settle_slot

TOP_UP = 20 * 10**9  # 20 €


@dataclass(frozen=True)
class Household:
    name: str
    role: str
    side: str
    energy_wh: int
    limit: int  # n€/Wh (= µ€/kWh)
    import_wh: int  # what its meter measured in the slot
    export_wh: int


HOUSEHOLDS = [
    Household("Anna (PV 6 kWp)", "prosumer", "sell", 2_500, 100_000, 0, 2_400),
    Household("Ben (PV 4 kWp)", "prosumer", "sell", 1_500, 120_000, 0, 1_600),
    Household("Clara", "consumer", "buy", 2_000, 180_000, 2_100, 0),
    Household("David", "consumer", "buy", 1_500, 150_000, 1_500, 0),
    Household("Eva (PV + battery)", "prosumager", "buy", 1_000, 110_000, 800, 0),
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
        supply_account=accounts[8].address,
    )
    supply_float = b"demo-supply-float".ljust(32, b"\0")
    dep.token.topUp(accounts[8], 100 * 10**9, supply_float, {"from": dso})
    rules = decode_rules(dep.community.tariffAt(0))
    wallets: list[Any] = []
    meters: list[tuple[bytes, str]] = []
    for i, h in enumerate(HOUSEHOLDS):
        wallet = accounts.add("0x" + f"{i + 1:02x}" * 32)
        dep.community.registerMember(wallet, ROLE_CODES[h.role], 0, {"from": dso})
        dep.token.topUp(wallet, TOP_UP, f"demo-topup-{i}".encode().ljust(32, b"\0"), {"from": dso})
        meter_key = "0x" + f"{0x80 + i:02x}" * 32
        meter_id = f"demo-meter-{i}".encode().ljust(32, b"\0")
        signer = accounts.add(meter_key).address
        dep.community.registerMeter(meter_id, wallet, signer, {"from": dso})
        meters.append((meter_id, meter_key))
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

    # Earlier slots (empty) settle first: slots settle strictly in order. On a development
    # chain we move time instead of waiting.
    flow = {"oracle": accounts[1], "matcher": accounts[2]}
    for earlier in range(int(dep.imbalance.nextSlot()), slot):
        settle_slot(dep, earlier, [], **flow)
    readings = [
        (Reading(meter_id, slot, h.import_wh, h.export_wh, sequence=1), key)
        for h, (meter_id, key) in zip(HOUSEHOLDS, meters, strict=True)
    ]
    settled = settle_slot(dep, slot, readings, **flow)
    book, clearing, tx = settled.book, settled.clearing, settled.trades_tx
    after = [int(dep.token.balanceOf(w)) for w in wallets]
    dso_after = [int(dep.token.balanceOf(a)) for a in (accounts[3], accounts[4])]
    metered = {
        e["member"]: e for itx in settled.imbalance_txs for e in itx.events["ImbalanceSettled"]
    }

    console.rule(f"gridshare demo: slot {slot}, delivery {start:%Y-%m-%d %H:%M} UTC")
    console.print(
        f"Mode [bold]{rules.mode}[/]; clearing price "
        f"[bold]{_kwh_price(clearing.clearing_price or 0)}[/]; "
        f"volume [bold]{_kwh(clearing.volume_wh)}[/]; "
        f"settlement gas {tx.gas_used:,} (verified on-chain)"
    )
    table = Table(
        title="Bills in prepaid tokens (1 token = 1 €): cost = what the household paid (- earned);"
        " BaU = the same metered energy without the market"
    )
    columns = (
        "household",
        "order",
        "filled",
        "metered",
        "imbalance €",
        "cost €",
        "BaU €",
        "saved €",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "household" else "left")
    for h, wallet, order_id, b, a in zip(HOUSEHOLDS, wallets, book.ids, before, after, strict=True):
        filled = clearing.fills[order_id].filled_wh
        event = metered[wallet.address]
        imbalance = int(event["credit"]) - int(event["energyCharge"]) - int(event["networkCharge"])
        cost = b - a
        bau = int(event["bauCost"])
        net = int(event["exportWh"]) - int(event["importWh"])
        table.add_row(
            h.name,
            f"{h.side} {_kwh(h.energy_wh)} @ {_kwh_price(h.limit)}",
            _kwh(filled),
            ("export " if net >= 0 else "import ") + _kwh(abs(net)),
            _cents(imbalance),
            _cents(cost),
            _cents(bau),
            _cents(bau - cost),
        )
    for label, b, a in zip(
        ("DSO platform fees", "DSO network charges"), dso_before, dso_after, strict=True
    ):
        table.add_row(label, "", "", "", "", _cents(b - a), "", "")
    console.print(table)
    supply = int(dep.token.totalSupply())
    held = (
        sum(after)
        + sum(dso_after)
        + int(dep.token.balanceOf(dep.order_book))
        + int(dep.token.balanceOf(accounts[8]))
    )
    console.print(
        f"Token supply {_cents(supply)} € = sum of balances {_cents(held)} € "
        f"({'conserved' if supply == held else 'NOT CONSERVED'}); escrow left in the book: "
        f"{_cents(int(dep.order_book.escrowHeld()))} €"
    )
    console.print(
        f"Audit digest of slot {slot}: 0x{bytes(dep.imbalance.digestAt(slot, 0)).hex()} "
        f"(readings, trades and imbalance hashed on-chain; see docs/decisions.md)"
    )
