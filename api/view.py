"""What the API reads from and sends to the chain, all through the typed gateways of
chain/gateway.py (`ChainView.community`, `.token`, `.ledger`, `.book`, `.settlement`,
`.flexibility`): no route names a contract method.

Reads are cached per head block: the gateways read through a node whose view calls are cached,
keyed by the call's contract, function and arguments, and a poller thread watches
`eth_blockNumber` every `api_head_poll_seconds` and drops the cache when a block arrives, so a
hot endpoint (a wallet's balance) costs no node request until the chain moves, and an answer is
at most one poll interval behind the head. The API's own transactions refresh the head at once,
so a client sees its own writes. Sends are serialised per process (one relayer nonce sequence).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from api.errors import ApiError
from api.schemas import TxPublic
from chain.gateway import (
    CommunityGateway,
    EnergyTokenGateway,
    FlexibilityGateway,
    ImbalanceGateway,
    Mined,
    OrderBookGateway,
    PlacedOrder,
    ProfitSharingGateway,
    SettlementGateway,
    SharingGateway,
    period_ledger,
)
from chain.node import Node, NodeError, Sender, cached_calls
from market.tariff import SlotRules

log = logging.getLogger("api.view")
T = TypeVar("T")

ROLES_KEY = ("roles",)
WALLET_KEY = ("wallet",)


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
    """A direct order as placed and its status now."""

    order: PlacedOrder
    status: str  # open | closed (gate closed, not yet settled) | settled | cancelled


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
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.head = node.block_number()
        self.hooks: list[Callable[[], None]] = []  # also run on every poll (the index's checkpoint)
        # The gateways' reads: every view call cached per head block (`cached`).
        self._reads = cached_calls(node, self.cached, self._read_head)
        self._computing = threading.local()  # .head: the head a miss's compute reads at
        self.community = CommunityGateway(self._reads)
        self.token = EnergyTokenGateway(self._reads)
        self.ledger: ImbalanceGateway | SharingGateway = period_ledger(self._reads)
        """The contract that settles slots against the meters and keeps the periods
        (IPeriodLedger): SharingSettlement in the `sharing` mode, else ImbalanceSettlement."""
        self.sharing_mode = isinstance(self.ledger, SharingGateway)
        """A community deployed in the `sharing` mode: no order book, settlement or imbalance
        settlement (`book`, `settlement` raise NodeError)."""

    # -- the contracts a deployment may lack (built on first use; NodeError if absent) ------

    @cached_property
    def book(self) -> OrderBookGateway:
        return OrderBookGateway(self._reads)

    @cached_property
    def settlement(self) -> SettlementGateway:
        return SettlementGateway(self._reads)

    @cached_property
    def flexibility(self) -> FlexibilityGateway:
        return FlexibilityGateway(self._reads)

    @cached_property
    def profit_sharing(self) -> ProfitSharingGateway:
        return ProfitSharingGateway(self._reads)

    def deployed(self, contract: str) -> bool:
        """Whether the deployment has `contract` ("OrderBook", "Flexibility", ...)."""
        return contract in self.node.manifest.contracts

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
        """Take the node's head. The poll, the sends and cache misses refresh from several
        threads, so a slower one's older answer may move the head back a block until the next
        refresh (reads then describe that block, which exists); a head that only moved forward
        would keep reads at a block a restarted node lost until it mined that far again."""
        head = self.node.block_number()
        with self._lock:
            if head != self.head:
                self.head = head
                self._cache = {}

    def _read_head(self) -> int:
        """The block this thread's chain reads are made at: the head its outermost cache miss
        began with, else the current head."""
        head = getattr(self._computing, "head", None)
        return self.head if head is None else int(head)

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """`compute()` once per head block (not stored if the head moved while computing).

        A miss first catches the head up with the node (one request; hits, the hot path, ask
        nothing), and the gateways' calls read at that head (chain.node.cached_calls). So an
        answer is never older than a fresh read of the node, and answers cached at one head
        never mix two blocks: a slot already shown as settled cannot leave its orders shown
        open from a head cached before the settlement (the poll alone lags up to
        `poll_seconds`). Misses inside a compute read at the head it began with."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
        outer = getattr(self._computing, "head", None)
        if outer is None:
            self.refresh()
        with self._lock:
            head = self.head if outer is None else outer
            if outer is None and key in self._cache:  # the head had not moved: a hit
                return self._cache[key]  # type: ignore[no-any-return]
        self._computing.head = head
        try:
            value = compute()
        finally:
            self._computing.head = outer
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

    # -- reads -----------------------------------------------------------------------------

    def roles(self, address: str) -> Roles:
        def read() -> Roles:
            return Roles(
                self.community.member_role(address),
                self.community.has_role("DSO_ROLE", address),
                # granted by the community's admin (grantRole)
                self.community.has_role("AUDITOR_ROLE", address),
            )

        return self.cached((*ROLES_KEY, address), read)

    def rules(self, slot: int) -> SlotRules:
        """The tariff and mode in force for `slot` (final once the slot's orders are possible)."""
        return self.community.rules_at(slot)

    def current_slot(self) -> int:
        return self.community.current_slot()

    def orders_of(self, owner: str) -> list[OrderRecord]:
        """Every order of `owner` since deployment (OrderPlaced / OrderCancelled logs, owner is
        indexed), with its status now."""

        def read() -> list[OrderRecord]:
            placed = self.book.placed_by(owner)
            cancelled = self.book.cancelled_by(owner)
            now = self.node.block_timestamp()
            out = []
            for o in placed:
                if o.order_id in cancelled:
                    status = "cancelled"
                elif self.book.slot_settled(o.slot):
                    status = "settled"
                elif self.community.gate_closure(o.slot) <= now:
                    status = "closed"
                else:
                    status = "open"
                out.append(OrderRecord(o, status))
            return out

        return self.cached(("orders", owner), read)

    def intent_epoch(self, member: str) -> int:
        """The nonce epoch `member`'s intents must be signed under (Settlement.intentEpoch)."""
        return self.settlement.intent_epoch(member)

    def chain_time(self) -> int:
        """The head block's timestamp: the chain's clock, which gates and deadlines follow."""
        return int(self.cached(("head-timestamp",), self.node.block_timestamp))

    def wallet(self, address: str) -> tuple[int, int, int]:
        """Balance, escrow held for its orders (none in the `sharing` mode: no order book),
        debt (n€)."""

        def read() -> tuple[int, int, int]:
            balance = self.token.balance_of(address)
            debt = self.token.debt_of(address)
            escrow = 0
            if self.deployed("OrderBook"):
                escrow = sum(
                    o.order.escrow
                    for o in self.orders_of(address)
                    if o.status in ("open", "closed")
                )
            return balance, escrow, debt

        return self.cached((*WALLET_KEY, address), read)

    # -- sends -----------------------------------------------------------------------------

    def send(self, write: Callable[[Sender], T], sender: Sender | None, what: str) -> T:
        """Run `write` (a gateway write, given its sender) from `sender`, one send at a time, and
        refresh the head after it is mined; 503 `read_only` without a `what` account. A revert
        raises TransactionReverted (errors.py makes it a 4xx naming the custom error)."""
        if sender is None:
            raise ApiError(
                503, "read_only", f"this API serves reads only: no {what} account configured"
            )
        with self._send_lock:
            try:
                return write(sender)
            finally:
                self.refresh()

    def relay(self, write: Callable[[Sender], T]) -> T:
        """Send a member's signed call from the API's relayer account, which pays the gas; the
        contract checks the member's signature."""
        return self.send(write, self.relayer, "relayer")

    def signing_terms(self, deadline_seconds: int) -> tuple[int, int]:
        """The nonce and deadline of a message a member signs for `relay`: a fresh random
        64-bit nonce, and a deadline `deadline_seconds` after the chain's clock (the one the
        contract checks it against, not this machine's)."""
        return secrets.randbits(64), self.node.block_timestamp() + deadline_seconds

    def operate(self, write: Callable[[Sender], T]) -> T:
        """Send a DSO action from the API's operator account (DSO and treasurer roles)."""
        return self.send(write, self.operator, "operator")


def hex_bytes(value: str) -> bytes:
    """A 0x-hex value as the schemas and the store hold it (a signature, a meter id, a payment
    reference) as the bytes the contracts take."""
    return bytes.fromhex(value[2:])


def tx_public(mined: Mined) -> TxPublic:
    return TxPublic(tx_hash=mined.tx_hash, block_number=mined.block_number)
