"""Deploy and wire the gridshare contracts: `brownie run scripts/deploy.py --network <id>`.

On development networks (ganache-cli, anvil) the deployer and the role holders are the node's
unlocked accounts. On any other network the deployer's key and the oracle / matcher addresses
come from the settings (`GRIDSHARE_DEPLOYER_KEY`, `GRIDSHARE_ORACLE`, `GRIDSHARE_MATCHER`;
default: the deployer). Addresses are recorded in
`deployments/<network>.json`, which the Python services read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from brownie import (
    Community,
    EnergyToken,
    Flexibility,
    ImbalanceSettlement,
    Membership,
    MeterReadings,
    OrderBook,
    ProfitSharing,
    Settlement,
    SettlementRouter,
    SharingSettlement,
    accounts,
    chain,
    network,
)
from brownie._config import CONFIG

from chain.codec import encode_rules
from chain.sharing import SHARING_KEY_CODES
from gridshare.settings import Settings, load_settings
from market.sharing import Key
from scripts.devnode import await_receipts_first

DEV_GAS_PRICE = "2 gwei"  # ganache (shanghai) never mines a 0-gas-price transaction


# The name the manifest records each deployed contract under, by the field that holds it.
_MANIFEST_NAMES = {
    "token": "EnergyToken",
    "community": "Community",
    "order_book": "OrderBook",
    "settlement": "Settlement",
    "readings": "MeterReadings",
    "imbalance": "ImbalanceSettlement",
    "sharing": "SharingSettlement",
    "profit_sharing": "ProfitSharing",
    "membership": "Membership",
    "flexibility": "Flexibility",
    "router": "SettlementRouter",
}


@dataclass(frozen=True)
class RoleAccounts:
    """The addresses a deployment grants roles to or sends money to, besides the deployer."""

    oracle: str
    """Relays meter readings (ORACLE role)."""
    matcher: str
    """Settles the slots (MATCHER role)."""
    fee_account: str
    """Collects the platform fees."""
    network_account: str
    """Collects the network charges."""
    supply_account: str
    """Sells retail energy and buys feed-in."""


@dataclass(frozen=True)
class _Deployed:
    """What either mode's deployment holds: its contracts, one a field."""

    def contracts(self) -> dict[str, Any]:
        """The contracts by name, as the manifest records them (in field order)."""
        return {_MANIFEST_NAMES[f.name]: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Deployment(_Deployed):
    token: Any
    community: Any
    order_book: Any
    settlement: Any
    readings: Any
    imbalance: Any
    profit_sharing: Any
    membership: Any
    flexibility: Any
    router: Any


@dataclass(frozen=True)
class SharingDeployment(_Deployed):
    """A community deployed in the `sharing` mode: no order book, settlement or imbalance
    settlement; SharingSettlement settles the slots from the meters (docs/decisions.md)."""

    token: Any
    community: Any
    readings: Any
    sharing: Any
    profit_sharing: Any


def deploy_sharing(
    settings: Settings, dso: Any, roles: RoleAccounts, *, genesis: int | None = None
) -> SharingDeployment:
    """Deploy a community in the `sharing` mode (key `settings.sharing_key`) from `dso`: the
    community, token, meter readings, SharingSettlement (bound to the readings) and profit
    sharing over SharingSettlement's per-period ledger; roles granted."""
    tx = {"from": dso}
    community, token = _community(settings, dso, roles, genesis)
    readings = MeterReadings.deploy(community, settings.period_slots, tx)
    sharing = SharingSettlement.deploy(
        community,
        token,
        readings,
        SHARING_KEY_CODES[Key(settings.sharing_key)],
        settings.reading_deadline_seconds,
        tx,
    )
    profit = ProfitSharing.deploy(
        community, token, sharing, settings.profit_share_bps, settings.chunk_members, tx
    )
    readings.bindImbalance(sharing, tx)
    community.setSupplyAccount(roles.supply_account, tx)
    for holder in (sharing, profit):
        token.grantRole(token.MARKET_ROLE(), holder, tx)
        token.grantRole(token.COLLECTOR_ROLE(), holder, tx)
    token.grantRole(token.TREASURER_ROLE(), dso, tx)
    community.grantRole(community.ORACLE_ROLE(), roles.oracle, tx)
    community.grantRole(community.MATCHER_ROLE(), roles.matcher, tx)
    return SharingDeployment(token, community, readings, sharing, profit)


def _community(
    settings: Settings, dso: Any, roles: RoleAccounts, genesis: int | None
) -> tuple[Any, Any]:
    """The Community (genesis: `genesis`, else the settings', else today's midnight UTC) and its
    EnergyToken, which asks the community whether a top-up's recipient is a member."""
    tx = {"from": dso}
    if genesis is None:
        genesis = settings.genesis if settings.genesis is not None else day_start(chain.time())
    community = Community.deploy(
        dso,
        genesis,
        settings.slot_seconds,
        settings.gate_closure_seconds,
        settings.order_horizon_slots,
        encode_rules(settings.tariff.rules()),
        roles.fee_account,
        roles.network_account,
        settings.chunk_members,
        tx,
    )
    return community, EnergyToken.deploy(dso, community, tx)


def day_start(timestamp: int) -> int:
    """Midnight UTC of the day containing `timestamp`: the default genesis (slot 0)."""
    return timestamp - timestamp % 86_400


def deploy(
    settings: Settings, dso: Any, roles: RoleAccounts, *, genesis: int | None = None
) -> Deployment:
    """Deploy the contracts from `dso`, bind them and grant roles. Returns the contracts."""
    tx = {"from": dso}
    community, token = _community(settings, dso, roles, genesis)
    book = OrderBook.deploy(
        community,
        token,
        settings.max_orders_per_slot,
        settings.max_standing_slots,
        settings.max_orders_per_member_slot,
        settings.min_order_wh,
        tx,
    )
    settlement = Settlement.deploy(community, book, token, tx)
    readings = MeterReadings.deploy(community, settings.period_slots, tx)
    imbalance = ImbalanceSettlement.deploy(
        community, token, settlement, readings, settings.reading_deadline_seconds, tx
    )
    sharing = ProfitSharing.deploy(
        community, token, imbalance, settings.profit_share_bps, settings.chunk_members, tx
    )
    membership = Membership.deploy(community, token, book, imbalance, tx)
    flexibility = Flexibility.deploy(
        community,
        token,
        readings,
        imbalance,
        settings.flex_penalty,
        settings.flex_baseline_days,
        settings.flex_lookback_days,
        settings.flex_max_offers,
        tx,
    )
    router = SettlementRouter.deploy(community, settlement, imbalance, tx)
    book.bindSettlement(settlement, tx)
    readings.bindImbalance(imbalance, tx)
    community.setSupplyAccount(roles.supply_account, tx)
    if settings.exit_penalty:
        community.setExitPenalty(settings.exit_penalty, tx)
    for holder in (book, settlement, imbalance, sharing, flexibility):
        token.grantRole(token.MARKET_ROLE(), holder, tx)
    for holder in (imbalance, sharing, membership, flexibility):
        token.grantRole(token.COLLECTOR_ROLE(), holder, tx)
    token.grantRole(token.TREASURER_ROLE(), dso, tx)
    community.grantRole(community.ORACLE_ROLE(), roles.oracle, tx)
    for holder in (roles.matcher, router):
        community.grantRole(community.MATCHER_ROLE(), holder, tx)
    community.grantRole(community.MEMBERSHIP_ROLE(), membership, tx)
    community.grantRole(community.INTENTS_ROLE(), settlement, tx)
    return Deployment(
        token,
        community,
        book,
        settlement,
        readings,
        imbalance,
        sharing,
        membership,
        flexibility,
        router,
    )


def write_manifest(dep: Deployment | SharingDeployment, directory: Path, network_id: str) -> Path:
    """Record chain id, deployment block, addresses and ABIs where the services read them, so a
    service needs neither brownie nor its build folder."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{network_id}.json"
    contracts = dep.contracts()
    manifest = {
        "network": network_id,
        "chain_id": chain.id,
        "deployed_at_block": dep.community.tx.block_number,  # the first one deployed
        "deployed_at": int(time.time()),
        "contracts": {name: c.address for name, c in contracts.items()},
        "abi": {name: c.abi for name, c in contracts.items()},
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def main() -> None:
    settings = load_settings()
    if CONFIG.network_type == "development":
        await_receipts_first()
        network.gas_price(DEV_GAS_PRICE)
        dso = accounts[0]
        roles = RoleAccounts(
            oracle=accounts[1].address,
            matcher=accounts[2].address,
            fee_account=accounts[3].address,
            network_account=accounts[4].address,
            supply_account=accounts[8].address,
        )
    else:
        if settings.deployer_key is None:
            raise SystemExit("set GRIDSHARE_DEPLOYER_KEY: the key that deploys and becomes admin")
        dso = accounts.add(settings.deployer_key.get_secret_value())
        roles = RoleAccounts(
            oracle=settings.oracle or dso.address,
            matcher=settings.matcher or dso.address,
            fee_account=settings.fee_account or dso.address,
            network_account=settings.network_account or dso.address,
            supply_account=settings.supply_account or dso.address,
        )
    dep = (deploy_sharing if settings.market_mode == "sharing" else deploy)(settings, dso, roles)
    path = write_manifest(dep, settings.deployments_dir, str(network.show_active()))
    print(f"gridshare deployed on {network.show_active()} (chain {chain.id}); manifest: {path}")
