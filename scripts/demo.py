"""`make demo-slot`: one slot of a small energy community, end to end on a local chain.

Deploys the contracts (`brownie run scripts/demo.py --network X`), then runs the slot as the
services do, through chain/gateway.py: registers five households and their meters, tops them up,
lets each sign an order (EIP-712; a relayer places it, so households need no ether); the matcher
service closes, clears and settles the slot (the contracts re-check the clearing); after delivery
each meter signs its reading, the oracle's account relays them, and the matcher settles the
imbalance against the meters. Prints each household's bill against business as usual.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from brownie import accounts, network, web3
from eth_account import Account
from rich.console import Console
from rich.table import Table

from chain.devchain import advance_to, close_gate, dev_accounts
from chain.gateway import (
    CommunityGateway,
    EnergyTokenGateway,
    ImbalanceGateway,
    OrderBookGateway,
    ReadingsGateway,
)
from chain.node import Node, Sender
from chain.signing import (
    OrderIntent,
    Reading,
    order_typed_data,
    reading_typed_data,
    sign_typed_data,
)
from gridshare.settings import load_settings
from matcher.service import Matcher
from scripts.deploy import DEV_GAS_PRICE, RoleAccounts, deploy, write_manifest
from scripts.devnode import await_receipts_first

TOP_UP = 20 * 10**9  # 20 €
DSO, ORACLE, MATCHER, FEES, NETWORK, RELAYER, SUPPLY = 0, 1, 2, 3, 4, 5, 8


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
    await_receipts_first()
    network.gas_price(DEV_GAS_PRICE)
    settings = load_settings()
    dep = deploy(
        settings,
        accounts[DSO],
        RoleAccounts(
            oracle=accounts[ORACLE].address,
            matcher=accounts[MATCHER].address,
            fee_account=accounts[FEES].address,
            network_account=accounts[NETWORK].address,
            supply_account=accounts[SUPPLY].address,
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        network_id = str(network.show_active())
        write_manifest(dep, Path(tmp), network_id)
        endpoint = str(web3.provider.endpoint_uri)
        node_settings = settings.model_copy(
            update={"deployments_dir": Path(tmp), "rpc_url": endpoint}
        )
        run_slot(Node.from_settings(network_id, node_settings), Console(width=118))


def run_slot(node: Node, console: Console) -> None:
    """The demo's slot on a fresh deployment, as the services run it; prints the bills."""
    address = dev_accounts(node)
    dso, relayer = Sender(address[DSO]), Sender(address[RELAYER])
    community, token = CommunityGateway(node), EnergyTokenGateway(node)
    book, readings = OrderBookGateway(node), ReadingsGateway(node)
    token.top_up(address[SUPPLY], 100 * 10**9, b"demo-supply-float".ljust(32, b"\0"), sender=dso)
    rules = community.rules_at(0)
    wallets, meters = [], []
    for i, h in enumerate(HOUSEHOLDS):
        wallet = Account.from_key("0x" + f"{i + 1:02x}" * 32)
        community.register_member(wallet.address, h.role, 0, sender=dso)
        ref = f"demo-topup-{i}".encode().ljust(32, b"\0")
        token.top_up(wallet.address, TOP_UP, ref, sender=dso)
        meter = Account.from_key("0x" + f"{0x80 + i:02x}" * 32)
        meter_id = f"demo-meter-{i}".encode().ljust(32, b"\0")
        community.register_meter(meter_id, wallet.address, meter.address, sender=dso)
        wallets.append(wallet)
        meters.append((meter_id, meter))

    matcher = Matcher(node, Sender(address[MATCHER]))
    slot = community.current_slot() + 2
    start = datetime.fromtimestamp(community.slot_start(slot), UTC)
    accounts_before = [token.balance_of(w.address) for w in wallets]
    dso_before = [token.balance_of(address[i]) for i in (FEES, NETWORK)]
    for i, (h, wallet) in enumerate(zip(HOUSEHOLDS, wallets, strict=True)):
        intent = OrderIntent(
            wallet.address, slot, slot, h.side, h.energy_wh, h.limit, nonce=i, deadline=2**40
        )
        signature = sign_typed_data(
            order_typed_data(intent, node.manifest.chain_id, book.address), wallet.key
        )
        book.place_order_with_sig(intent, signature, sender=relayer)

    close_gate(node, slot)
    settled = {r.slot: r for r in matcher.run_once()}[slot]
    order_book, fills = matcher.settled_book(slot)
    # After delivery each meter signs its reading; the oracle's account relays them. The
    # earlier slots (no readings) settle once their deadline has passed: slots settle in order.
    # On a development chain time is moved instead of waited for.
    first_block = node.block_number() + 1
    deadline = ImbalanceGateway(node).reading_deadline_seconds()
    delivered = community.slot_start(slot + 1)
    advance_to(node, max(delivered, community.slot_start(slot) + deadline) + 1)
    signed = [
        Reading(meter_id, slot, h.import_wh, h.export_wh, sequence=1)
        for h, (meter_id, _) in zip(HOUSEHOLDS, meters, strict=True)
    ]
    signatures = [
        sign_typed_data(reading_typed_data(r, node.manifest.chain_id, readings.address), m.key)
        for r, (_, m) in zip(signed, meters, strict=True)
    ]
    readings.submit_readings(signed, signatures, sender=Sender(address[ORACLE]))
    matcher.run_once()
    if ImbalanceGateway(node).next_slot() <= slot:
        raise RuntimeError(f"slot {slot}'s imbalance was not settled")
    metered = {
        str(e["args"]["member"]): e["args"]
        for e in node.events("ImbalanceSettlement", "ImbalanceSettled", from_block=first_block)
        if int(e["args"]["slot"]) == slot
    }
    after = [token.balance_of(w.address) for w in wallets]
    dso_after = [token.balance_of(address[i]) for i in (FEES, NETWORK)]
    filled = dict(zip(order_book.ids, fills, strict=True))

    console.rule(f"gridshare demo: slot {slot}, delivery {start:%Y-%m-%d %H:%M} UTC")
    console.print(
        f"Mode [bold]{rules.mode}[/]; clearing price "
        f"[bold]{_kwh_price(settled.price or 0)}[/]; "
        f"volume [bold]{_kwh(settled.volume_wh)}[/]; "
        f"settlement gas {settled.gas_used:,} (verified on-chain)"
    )
    table = Table(
        title="Bills in prepaid tokens (1 token = 1 €): cost = what the household paid (- earned);"
        " BaU = the same metered energy without the market"
    )
    columns = ("household", "order", "filled", "metered", "imbalance €", "cost €", "BaU €")
    for column in (*columns, "saved €"):
        table.add_column(column, justify="right" if column != "household" else "left")
    for h, wallet, order_id, b, a in zip(
        HOUSEHOLDS, wallets, order_book.ids, accounts_before, after, strict=True
    ):
        event = metered[wallet.address]
        imbalance = int(event["credit"]) - int(event["energyCharge"]) - int(event["networkCharge"])
        cost = b - a
        bau = int(event["bauCost"])
        net = int(event["exportWh"]) - int(event["importWh"])
        table.add_row(
            h.name,
            f"{h.side} {_kwh(h.energy_wh)} @ {_kwh_price(h.limit)}",
            _kwh(filled[order_id]),
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
    supply = token.total_supply()
    escrow = token.balance_of(book.address)
    held = sum(after) + sum(dso_after) + escrow + token.balance_of(address[SUPPLY])
    console.print(
        f"Token supply {_cents(supply)} € = sum of balances {_cents(held)} € "
        f"({'conserved' if supply == held else 'NOT CONSERVED'}); escrow left in the book: "
        f"{_cents(escrow)} €"
    )
    digest = ImbalanceGateway(node).digest_at(slot, 0)
    console.print(
        f"Audit digest of slot {slot}: 0x{digest.hex()} "
        "(readings, trades and imbalance hashed on-chain; see docs/decisions.md)"
    )
