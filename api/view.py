"""What the API reads from and sends to the chain, all through chain.node.Node.

Reads are cached per head block: a poller thread watches `eth_blockNumber` every
`api_head_poll_seconds` and drops the cache when a block arrives, so a hot endpoint (a wallet's
balance) costs no node request until the chain moves, and an answer is at most one poll interval
behind the head. The API's own transactions refresh the head at once, so a client sees its own
writes. Sends are serialised per process (one relayer nonce sequence).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils.crypto import keccak

from api.errors import ApiError
from api.schemas import TxPublic
from chain.codec import decode_rules
from chain.node import ContractCall, ContractHandle, Node, NodeError, Receipt, Sender
from market.tariff import SlotRules

log = logging.getLogger("api.view")
T = TypeVar("T")

DSO_ROLE = keccak(text="DSO_ROLE")
AUDITOR_ROLE = keccak(text="AUDITOR_ROLE")  # granted by the community's admin (grantRole)
ROLES_KEY = ("roles",)
WALLET_KEY = ("wallet",)
ROLE_NAMES = {0: None, 1: "consumer", 2: "prosumer", 3: "prosumager", 4: "battery"}


@dataclass(frozen=True)
class Roles:
    member_role: str | None  # consumer / prosumer / ... ; None: not a (trading) member
    dso: bool
    auditor: bool

    def names(self) -> list[str]:
        out = ["member"] if self.member_role else []
        return out + (["dso"] if self.dso else []) + (["auditor"] if self.auditor else [])


@dataclass(frozen=True)
class OrderRecord:
    id: int
    owner: str
    slot: int
    index: int
    side: str
    energy_wh: int
    limit_price: int
    escrow: int
    status: str  # open | closed (gate closed, not yet settled) | settled | cancelled
    placed_block: int
    tx_hash: str


def sender_from(address: str | None, key: Any, what: str) -> Sender:
    """A sending account from settings: a private key (SecretStr) if set, else an address."""
    if key is not None:
        return Sender.from_key(key.get_secret_value())
    if address:
        return Sender(address)
    raise NodeError(f"set GRIDSHARE_API_{what.upper()}_KEY or GRIDSHARE_API_{what.upper()}")


class ChainView:
    def __init__(
        self,
        node: Node,
        *,
        relayer: Sender | None,
        operator: Sender | None,
        poll_seconds: float,
        audit_batch_blocks: int = 5_000,
    ) -> None:
        self.node = node
        self.relayer = relayer
        self.operator = operator
        self.poll_seconds = poll_seconds
        self.audit_batch_blocks = audit_batch_blocks
        self.chain_id = node.manifest.chain_id
        self.ledger = (
            "SharingSettlement"
            if "SharingSettlement" in node.manifest.contracts
            else "ImbalanceSettlement"
        )
        """The contract that settles slots against the meters and keeps the periods
        (IPeriodLedger): SharingSettlement in the `sharing` mode, else ImbalanceSettlement."""
        self._contracts: dict[str, ContractHandle] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._forever: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.head = node.block_number()
        self.hooks: list[Callable[[], None]] = []  # also run on every poll (the index's checkpoint)

    # -- head and cache --------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="api-head", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)  # a daemon: a poll stuck on the node dies with us

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
                for hook in self.hooks:
                    hook()
            except Exception as exc:  # keep following; requests see the node's errors
                log.warning("head poll failed: %s", exc)
                # Reads cached at the last head would keep answering as if the node were up;
                # dropped, every read goes to the node and answers 503 while it is down.
                with self._lock:
                    self._cache = {}

    def refresh(self) -> None:
        head = self.node.block_number()
        with self._lock:
            if head != self.head:
                self.head = head
                self._cache = {}

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """`compute()` once per head block (not stored if the head moved while computing)."""
        with self._lock:
            head = self.head
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            if self.head == head:
                self._cache[key] = value
        return value

    def peek(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, value) if `key` is cached at the current head, else (False, None)."""
        with self._lock:
            if key in self._cache:
                return True, self._cache[key]
        return False, None

    def contract(self, name: str) -> ContractHandle:
        if name not in self._contracts:
            self._contracts[name] = self.node.contract(name)
        return self._contracts[name]

    def fn(self, contract: str, name: str, *args: Any) -> ContractCall:
        return self.contract(contract).functions[name](*args)

    def call(self, contract: str, name: str, *args: Any) -> Any:
        """A cached view call."""
        return self.cached(
            ("call", contract, name, *args), lambda: self.node.call(self.fn(contract, name, *args))
        )

    # -- reads -----------------------------------------------------------------------------

    def roles(self, address: str) -> Roles:
        def read() -> Roles:
            role = int(self.node.call(self.fn("Community", "memberRole", address)))
            dso = bool(self.node.call(self.fn("Community", "hasRole", DSO_ROLE, address)))
            aud = bool(self.node.call(self.fn("Community", "hasRole", AUDITOR_ROLE, address)))
            return Roles(ROLE_NAMES.get(role), dso, aud)

        return self.cached((*ROLES_KEY, address), read)

    def rules(self, slot: int) -> SlotRules:
        """The tariff and mode in force for `slot` (final once the slot's orders are possible)."""
        return decode_rules(self.call("Community", "tariffAt", slot))

    def current_slot(self) -> int:
        return int(self.call("Community", "currentSlot"))

    def orders_of(self, owner: str) -> list[OrderRecord]:
        """Every order of `owner` since deployment (OrderPlaced / OrderCancelled logs, owner is
        indexed), with its status now."""

        def read() -> list[OrderRecord]:
            start = self.node.manifest.deployed_at_block
            placed = self.node.events(
                "OrderBook", "OrderPlaced", from_block=start, argument_filters={"owner": owner}
            )
            cancelled = {
                int(e["args"]["id"])
                for e in self.node.events(
                    "OrderBook",
                    "OrderCancelled",
                    from_block=start,
                    argument_filters={"owner": owner},
                )
            }
            now = self.node.block_timestamp()
            out = []
            for e in placed:
                a = e["args"]
                slot = int(a["slot"])
                oid = int(a["id"])
                if oid in cancelled:
                    status = "cancelled"
                elif bool(self.call("OrderBook", "slotSettled", slot)):
                    status = "settled"
                elif int(self.call("Community", "gateClosure", slot)) <= now:
                    status = "closed"
                else:
                    status = "open"
                out.append(
                    OrderRecord(
                        id=oid,
                        owner=str(a["owner"]),
                        slot=slot,
                        index=int(a["index"]),
                        side="sell" if int(a["side"]) else "buy",
                        energy_wh=int(a["energyWh"]),
                        limit_price=int(a["limitPrice"]),
                        escrow=int(a["escrow"]),
                        status=status,
                        placed_block=e["blockNumber"],
                        tx_hash=e["transactionHash"],
                    )
                )
            return out

        return self.cached(("orders", owner), read)

    def intent_epoch(self, member: str) -> int:
        """The nonce epoch `member`'s intents must be signed under (Settlement.intentEpoch)."""
        return int(self.call("Settlement", "intentEpoch", member))

    def chain_time(self) -> int:
        """The head block's timestamp: the chain's clock, which gates and deadlines follow."""
        return int(self.cached(("head-timestamp",), self.node.block_timestamp))

    def wallet(self, address: str) -> tuple[int, int, int]:
        """Balance, escrow held for its orders (none in the `sharing` mode: no order book),
        debt (n€)."""
        balance = int(self.call("EnergyToken", "balanceOf", address))
        debt = int(self.call("EnergyToken", "debtOf", address))
        escrow = 0
        if "OrderBook" in self.node.manifest.contracts:
            escrow = sum(
                o.escrow for o in self.orders_of(address) if o.status in ("open", "closed")
            )
        return balance, escrow, debt

    # -- sends -----------------------------------------------------------------------------

    def send(self, fn: ContractCall, sender: Sender | None, what: str) -> Receipt:
        """Send `fn` from `sender` (one at a time) and refresh the head after it is mined."""
        if sender is None:
            raise ApiError(
                503, "read_only", f"this API serves reads only: no {what} account configured"
            )
        with self._send_lock:
            try:
                return self.node.transact(fn, sender)
            finally:
                self.refresh()

    def relay(self, contract: str, name: str, *args: Any, signature: str) -> Receipt:
        """Send a member's signed call from the API's relayer account, which pays the gas; the
        contract checks `signature` (0x and 130 hex digits, as the schemas take it), the call's
        last argument."""
        fn = self.fn(contract, name, *args, bytes.fromhex(signature[2:]))
        return self.send(fn, self.relayer, "relayer")

    def emitted(self, receipt: Receipt, contract: str, event: str) -> list[dict[str, Any]]:
        """The arguments of each `contract`'s `event` in `receipt`, in log order."""
        return self.node.emitted(receipt, contract, event)

    def placed_ids(self, receipt: Receipt) -> list[int]:
        return [int(args["id"]) for args in self.emitted(receipt, "OrderBook", "OrderPlaced")]


def tx_hash(receipt: Receipt) -> str:
    return "0x" + bytes(receipt["transactionHash"]).hex()


def tx_public(receipt: Receipt) -> TxPublic:
    return TxPublic(tx_hash=tx_hash(receipt), block_number=int(receipt["blockNumber"]))
