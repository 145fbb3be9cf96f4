"""Fixtures for the contract tests: a fresh deployment on a real ganache, accounts by role."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from brownie import Wei, accounts, chain, network
from brownie.network.rpc import Rpc
from brownie.network.rpc import anvil as brownie_anvil
from eth_account import Account

from gridshare.settings import Settings
from scripts.deploy import DEV_GAS_PRICE, Deployment, RoleAccounts, day_start, deploy
from scripts.devnode import await_receipts_first
from tests.contracts.helpers import SlotRunner, sleep_until

if TYPE_CHECKING:
    # Only for the annotation: brownie hashes the sources of conftest's top-level imports that live
    # in the project, and brownie.network.state is a compiled module (a .so it cannot read as text)
    # when the venv sits inside the checkout, as it does in CI.
    from brownie.network.state import Chain

EUR = 10**9  # n€ per €
MEMBER_KEYS = {  # deterministic test keys, so members can sign EIP-712 intents
    "alice": "0x" + "a1" * 32,
    "bob": "0x" + "b0" * 32,
    "carol": "0x" + "ca" * 32,
    "dave": "0x" + "da" * 32,
    "erin": "0x" + "e4" * 32,
}


# Fixes so the suite runs on anvil as on ganache (brownie 1.22.2's anvil backend):
# - `chain.mine(timestamp=t)` sent `evm_mine` the bare number as its params, which anvil refuses
#   ("Invalid request"); anvil takes `[t]` as ganache does.
# - anvil's `evm_revert` also winds its clock back to the snapshot block's timestamp (ganache keeps
#   its time offset), while brownie restores the offset it had at the snapshot: brownie's
#   `chain.time()` then runs ahead of the node by the time since the snapshot, and a test that
#   moves time to "just past" a boundary lands just before it. After a revert on anvil, brownie's
#   clock is re-read from the reverted chain's head block.
# - After a revert, a test may send a transaction byte for byte equal to one mined before the
#   revert (same sender, nonce, arguments): anvil then mines it but cannot find it by hash, and
#   brownie reports "Tx dropped without known replacement". Each revert on anvil moves the
#   default gas price on by one wei, so no transaction repeats an earlier one's hash.
# - anvil can show a sender's nonce moved on before the receipt is readable:
#   scripts.devnode.await_receipts_first (also used by the deploy script on a dev chain).


def _anvil_mine(timestamp: int | None = None) -> None:
    brownie_anvil._request("evm_mine", [] if timestamp is None else [timestamp])


_chain_revert = type(chain)._revert


_reverts = itertools.count(1)


def _revert_with_node_clock(self: Chain, id_: int | str) -> int | str:
    new_id: int | str = _chain_revert(self, id_)
    if Rpc().backend is brownie_anvil:
        self._set_time_offset_from_block()
        network.gas_price(Wei(DEV_GAS_PRICE) + next(_reverts))
    return new_id


brownie_anvil.mine = _anvil_mine
await_receipts_first()
type(chain)._revert = _revert_with_node_clock


@pytest.fixture(scope="session", autouse=True)
def _gas_price() -> None:
    network.gas_price(DEV_GAS_PRICE)


@pytest.fixture(autouse=True)
def _isolation(fn_isolation: Any) -> None:
    """Every test starts from the module's deployment; nothing leaks between tests."""


@pytest.fixture(scope="session")
def dso() -> Any:
    return accounts[0]


@pytest.fixture(scope="session")
def oracle() -> Any:
    return accounts[1]


@pytest.fixture(scope="session")
def matcher() -> Any:
    return accounts[2]


@pytest.fixture(scope="session")
def fee_account() -> Any:
    return accounts[3]


@pytest.fixture(scope="session")
def network_account() -> Any:
    return accounts[4]


@pytest.fixture(scope="session")
def supply_account() -> Any:
    """The DSO's supply account: pays feed-in for surplus, receives retail for shortfall."""
    return accounts[8]


@pytest.fixture(scope="session")
def relayer() -> Any:
    return accounts[5]


@pytest.fixture(scope="session")
def outsider() -> Any:
    return accounts[6]


def _member_account(name: str) -> Any:
    # Brownie's module_isolation resets the chain at each module's start: fund after that reset.
    account = accounts.add(MEMBER_KEYS[name])
    if account.balance() < 10**18:
        accounts[9].transfer(account, "10 ether")
    return account


@pytest.fixture(scope="module")
def alice(module_isolation: Any) -> Any:
    return _member_account("alice")


@pytest.fixture(scope="module")
def bob(module_isolation: Any) -> Any:
    return _member_account("bob")


@pytest.fixture(scope="module")
def carol(module_isolation: Any) -> Any:
    return _member_account("carol")


@pytest.fixture(scope="module")
def dave(module_isolation: Any) -> Any:
    return _member_account("dave")


@pytest.fixture(scope="module")
def erin(module_isolation: Any) -> Any:
    return _member_account("erin")


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def roles(
    oracle: Any, matcher: Any, fee_account: Any, network_account: Any, supply_account: Any
) -> RoleAccounts:
    """The role holders and DSO accounts a deployment is given (scripts/deploy.py)."""
    return RoleAccounts(
        oracle=oracle.address,
        matcher=matcher.address,
        fee_account=fee_account.address,
        network_account=network_account.address,
        supply_account=supply_account.address,
    )


@pytest.fixture(scope="module")
def market(settings: Settings, dso: Any, roles: RoleAccounts) -> Deployment:
    # Genesis a day back, so the current slot is well past 0.
    return deploy(settings, dso, roles, genesis=day_start(chain.time()) - 86_400)


@pytest.fixture(scope="module")
def token(market: Deployment) -> Any:
    return market.token


@pytest.fixture(scope="module")
def community(market: Deployment) -> Any:
    return market.community


@pytest.fixture(scope="module")
def book(market: Deployment) -> Any:
    return market.order_book


@pytest.fixture(scope="module")
def settlement(market: Deployment) -> Any:
    return market.settlement


@pytest.fixture(scope="module")
def members(
    market: Deployment, dso: Any, alice: Any, bob: Any, carol: Any, dave: Any, erin: Any
) -> dict[str, Any]:
    """Alice, Carol, Dave: prosumers; Bob, Erin: consumers. Each topped up with 100 €."""
    roles = {"alice": 2, "bob": 1, "carol": 2, "dave": 2, "erin": 1}
    people = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}
    for name, account in people.items():
        market.community.registerMember(account, roles[name], 48 * 30, {"from": dso})
        market.token.topUp(account, 100 * EUR, _ref(f"initial-{name}"), {"from": dso})
    return people


METER_KEYS = {  # each member's meter signs with its own key
    "alice": "0x" + "a7" * 32,
    "bob": "0x" + "b7" * 32,
    "carol": "0x" + "c7" * 32,
    "dave": "0x" + "d7" * 32,
    "erin": "0x" + "e7" * 32,
}


@pytest.fixture(scope="module")
def meters(
    market: Deployment, members: dict[str, Any], dso: Any, supply_account: Any
) -> dict[str, tuple[bytes, str]]:
    """One meter per member, id `meter-<name>`, signed by its own key; and the supply account
    funded with 1000 € to pay feed-in credits. Maps name to (meter id, meter key)."""
    out = {}
    for name, account in members.items():
        meter_id = _ref(f"meter-{name}")
        signer = Account.from_key(METER_KEYS[name]).address
        market.community.registerMeter(meter_id, account, signer, {"from": dso})
        out[name] = (meter_id, METER_KEYS[name])
    market.token.topUp(supply_account, 1000 * EUR, _ref("supply-float"), {"from": dso})
    return out


@pytest.fixture
def runner(market: Deployment, meters: Any, oracle: Any, matcher: Any) -> SlotRunner:
    """Drives the `market` deployment's slots as the oracle and the matcher do."""
    return SlotRunner(market, oracle, matcher)


def _ref(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


@pytest.fixture(scope="session")
def ref() -> Callable[[str], bytes]:
    """A bytes32 payment reference from a short text."""
    return _ref


@pytest.fixture
def open_slot(community: Any) -> int:
    """A slot whose order book is open now (two slots ahead of the current one)."""
    return int(community.currentSlot()) + 2


@pytest.fixture(scope="session")
def close_gate() -> Callable[[Any, int], None]:
    """Move chain time just past `slot`'s gate closure."""

    def _close(community: Any, slot: int) -> None:
        sleep_until(int(community.gateClosure(slot)) + 1)

    return _close


@pytest.fixture(scope="module")
def make_market(dso: Any, roles: RoleAccounts) -> Callable[..., Deployment]:
    """Deploy a separate market with the given tariff fields (and settings), members registered
    and topped up like the `members` fixture."""

    def _make(
        people: dict[str, Any], settings: Settings | None = None, **tariff: Any
    ) -> Deployment:
        base = settings or Settings()
        settings = base.model_copy(update={"tariff": base.tariff.model_copy(update=tariff)})
        dep = deploy(settings, dso, roles, genesis=day_start(chain.time()) - 86_400)
        for name, (account, role) in people.items():
            dep.community.registerMember(account, role, 0, {"from": dso})
            dep.token.topUp(
                account, 100 * EUR, _ref(f"{dep.token.address[:10]}-{name}"), {"from": dso}
            )
        return dep

    return _make
