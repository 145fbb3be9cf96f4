"""Roles: the roles that move members' tokens or revoke their intents are held only by the
deployment's contracts."""

from __future__ import annotations

from eth_utils.crypto import keccak

from audit.model import Event
from audit.rules.core import AuditState

RULES: dict[str, str] = {
    "roles": "the roles that move members' tokens (the token's MARKET_ROLE and COLLECTOR_ROLE, "
    "the community's MEMBERSHIP_ROLE) or revoke their intents (the community's INTENTS_ROLE) "
    "are held only by the deployment's contracts",
}


def _role_id(name: str) -> str:
    return "0x" + keccak(text=name).hex()


# Role id -> (contract that grants it, the deployment's contracts that may hold it).
CONTRACT_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    _role_id("MARKET_ROLE"): (
        "EnergyToken",
        (
            "OrderBook",
            "Settlement",
            "ImbalanceSettlement",
            "SharingSettlement",
            "ProfitSharing",
            "Flexibility",
        ),
    ),
    _role_id("COLLECTOR_ROLE"): (
        "EnergyToken",
        (
            "ImbalanceSettlement",
            "SharingSettlement",
            "ProfitSharing",
            "Membership",
            "Flexibility",
        ),
    ),
    _role_id("MEMBERSHIP_ROLE"): ("Community", ("Membership",)),
    _role_id("INTENTS_ROLE"): ("Community", ("Settlement",)),
}


class RoleRules(AuditState):
    def on_RoleGranted(self, e: Event) -> None:
        """A role that moves members' tokens (or revokes their intents) granted to anything but
        the deployment's own contract for it (e.g. the admin granting itself MARKET_ROLE to pull
        balances)."""
        role = str(e.args["role"]).lower()
        if role not in CONTRACT_ROLES:
            return
        contract, holders = CONTRACT_ROLES[role]
        account = str(e.args["account"]).lower()
        if e.contract == contract and account not in {self.address(h).lower() for h in holders}:
            self.find(
                None,
                "roles",
                f"{contract} granted a contract-only role to {e.args['account']} "
                f"(by {e.args.get('sender')}, tx {e.tx}); only {', '.join(holders)} may hold it",
            )
