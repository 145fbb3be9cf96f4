"""Request (`XCreate`) and response (`XPublic`) models. Amounts are integers: n€, Wh, n€/Wh.

Every integer that goes into a contract call is bounded by its ABI type here, so out-of-range
input is a 422 before anything is encoded or sent. Request integers are strict (`StrictInt`):
pydantic's lax mode would take `true` as 1, `1.0` as 1 and `"1"` as 1 (a member was once
registered with `"lock_in_slots": true`); only a JSON integer is an integer here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils.address import to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from market.tariff import PRICE_CAP, SERVICE_FEE_CAP

LEASE_CAP = 2**96  # ProfitSharing.setLease packs a charge's amount above an address

StrictU64 = Annotated[StrictInt, Field(ge=0, lt=2**64)]
StrictU256 = Annotated[StrictInt, Field(ge=0, lt=2**256)]
Address = Annotated[
    str,
    Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x0000000000000000000000000000000000000001"]),
    AfterValidator(to_checksum_address),
]
Bytes32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$"), AfterValidator(lambda v: v.lower())]
Signature = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte ECDSA")]
Side = Literal["buy", "sell"]
MemberRoleName = Literal["consumer", "prosumer", "prosumager", "battery"]
Mode = Literal["uniform", "pay-as-bid", "community"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorPublic(BaseModel):
    code: str
    message: str


# -- auth ---------------------------------------------------------------------------------


class NoncePublic(BaseModel):
    nonce: str
    domain: str
    chain_id: int
    expires_at: int


class LoginCreate(Strict):
    message: str = Field(max_length=4096, description="The EIP-4361 message the wallet signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class SessionPublic(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    address: str
    roles: list[str]
    expires_at: int


class MePublic(BaseModel):
    address: str
    roles: list[str]
    member_role: str | None


# -- wallet -------------------------------------------------------------------------------


class WalletPublic(BaseModel):
    address: str
    member_role: str | None
    balance: int = Field(description="n€ the member can spend")
    escrow: int = Field(description="n€ locked by its buy orders in unsettled slots")
    debt: int = Field(description="n€ owed, paid first from the next top-up")


class TopUpCreate(Strict):
    amount: StrictInt = Field(gt=0, lt=2**63, description="n€ the member will pay in")


class TopUpPublic(BaseModel):
    reference: str = Field(description="Put this on the bank transfer")
    payment_ref: str = Field(description="keccak256(reference), the on-chain payment reference")
    member: str
    amount: int
    requested_at: int
    status: Literal["pending", "confirmed"]


# -- orders -------------------------------------------------------------------------------
# Orders travel as EIP-712 intents (chain.intents: signed, kept in the intent pool, carried into
# the slot's settlement by the matcher); the relayed direct order (OrderBook.placeOrderWithSig)
# stays as the member's fallback under /orders/direct. Their integers are strict (a JSON
# integer, never a bool, float or string) and bounded by their ABI types; the market's own
# bounds (gate, horizon, minimum energy, price bounds, per-slot cap) are checked by the route,
# whose 422 names the allowed range.

IntentSlot = Annotated[StrictInt, Field(ge=0, lt=2**63, description="slot number")]


class IntentTypedDataCreate(Strict):
    """What to sign: the API answers with the EIP-712 Intent (the member's epoch filled in)."""

    slot: IntentSlot
    side: Side
    energy_wh: StrictU256 = Field(description="Wh")
    limit_price: StrictU256 = Field(description="n€ per Wh")
    deadline: StrictU256 | None = Field(
        default=None,
        description="unix s, the last moment a settlement may carry the intent; after the "
        "slot's gate closure (default: the end of the slot's delivery)",
    )


class IntentCreate(Strict):
    """An EIP-712 Intent (chain.intents.INTENT_TYPE, domain "gridshare Settlement") and the
    owner's signature."""

    owner: Address
    slot: IntentSlot
    side: Side
    energy_wh: StrictU256
    limit_price: StrictU256
    epoch: StrictU256
    deadline: StrictU256
    signature: Signature


class EpochPublic(BaseModel):
    member: str
    epoch: int = Field(description="the nonce epoch new intents must be signed under")
    settlement: str = Field(description="the Settlement contract (the intents' EIP-712 domain)")
    revoke: str = Field(description="how to revoke every outstanding intent")


class OrderIntentCreate(Strict):
    """Direct order (fallback): what to sign; the API answers with the EIP-712 OrderIntent of the
    OrderBook (nonce and deadline filled)."""

    from_slot: StrictU64
    to_slot: StrictU64 | None = None
    side: Side
    energy_wh: StrictU256
    limit_price: StrictU256
    deadline_seconds: StrictInt = Field(default=600, gt=0, le=86_400)


class OrderCreate(Strict):
    """Direct order (fallback): an EIP-712 OrderIntent (chain.signing.ORDER_INTENT_TYPE) and the
    owner's signature, relayed to OrderBook.placeOrderWithSig."""

    owner: Address
    from_slot: StrictU64
    to_slot: StrictU64
    side: Side
    energy_wh: StrictU256
    limit_price: StrictU256
    nonce: StrictU256
    deadline: StrictU256
    signature: Signature


class TypedDataPublic(BaseModel):
    typed_data: dict[str, object]


class CancelIntentCreate(Strict):
    """What to sign to cancel a direct order: the API answers with the EIP-712 CancelIntent."""

    deadline_seconds: StrictInt = Field(default=600, gt=0, le=86_400)


class OrderCancel(Strict):
    """An EIP-712 CancelIntent's nonce and deadline and the owner's signature."""

    nonce: StrictU256
    deadline: StrictU256
    signature: Signature


class OrdersPlacedPublic(BaseModel):
    order_ids: list[int]
    tx_hash: str


OrderStatus = Literal[
    "pending", "included", "left_out", "withdrawn", "open", "closed", "settled", "cancelled"
]


class OrderPublic(BaseModel):
    """An order of either kind. An intent: id 0x-hex (its struct hash), status pending /
    included / left_out (with a reason) / withdrawn, no escrow (paid from the balance at
    settlement). A direct order: id a number, status open / closed / settled / cancelled."""

    kind: Literal["intent", "direct"]
    id: int | str
    owner: str
    slot: int
    side: Side
    energy_wh: int
    limit_price: int
    status: OrderStatus
    reason: str | None = Field(default=None, description="why an intent was left out")
    status_text: str = Field(description='e.g. "included", "left out: uncovered"')
    escrow: int = Field(description="n€ locked (direct buy orders; 0 for intents)")
    index: int | None = Field(default=None, description="position in the slot's on-chain book")
    epoch: int | None = None
    deadline: int | None = None
    received_at: int | None = Field(default=None, description="unix s the API accepted it")
    tx_hash: str | None = Field(
        default=None, description="placement (direct) or the settlement that carried it (intent)"
    )


class TxPublic(BaseModel):
    tx_hash: str
    block_number: int


# -- DSO ----------------------------------------------------------------------------------


class MemberCreate(Strict):
    address: Address
    role: MemberRoleName
    lock_in_slots: StrictU64 = 0


class MeterCreate(Strict):
    meter_id: Bytes32
    member: Address
    signer: Address


class LeaseUpdate(Strict):
    """A lessee's part of the community battery's lease, charged at every period's close."""

    per_period: StrictInt = Field(ge=0, lt=LEASE_CAP, description="n€ a period; 0 ends the lease")


class LeasePublic(Strict):
    member: str
    per_period: int


class TopUpConfirm(Strict):
    """A top-up paid without a request through the API (the bank reference typed in)."""

    member: Address
    amount: StrictInt = Field(gt=0, lt=2**96)
    reference: str = Field(min_length=1, max_length=140)


class TariffFields(BaseModel):
    """A tariff's terms: the fields and bounds market.tariff declares (tests/market/
    test_tariff_fields.py keeps the two alike)."""

    retail_price: StrictInt = Field(ge=0, lt=PRICE_CAP)
    feed_in_price: StrictInt = Field(ge=0, lt=PRICE_CAP)
    grid_fee: StrictInt = Field(ge=0, lt=PRICE_CAP)
    p2p_grid_fee: StrictInt = Field(ge=0, lt=PRICE_CAP)
    trade_fee_buy: StrictInt = Field(ge=0, lt=PRICE_CAP)
    trade_fee_sell: StrictInt = Field(ge=0, lt=PRICE_CAP)
    service_fee: StrictInt = Field(ge=0, lt=SERVICE_FEE_CAP)
    community_price: StrictInt = Field(ge=0, lt=PRICE_CAP)
    sharing_price: StrictInt | None = Field(default=None, ge=0, lt=PRICE_CAP)
    mode: Mode


class TariffCreate(TariffFields):
    model_config = ConfigDict(extra="forbid")
    from_slot: StrictU64


class TariffPublic(TariffFields):
    from_slot: int


class FeesPublic(BaseModel):
    fee_account: str
    fee_balance: int = Field(description="n€ platform-fee income held")
    network_account: str
    network_balance: int = Field(description="n€ network charges held")
    supply_account: str
    supply_balance: int
    period: int
    period_platform_fees: int = Field(description="platform fees of the period's settled slots")


# -- public -------------------------------------------------------------------------------


class MarketPublic(BaseModel):
    chain_id: int
    contracts: dict[str, str]
    head_block: int
    current_slot: int
    genesis: int = Field(description="unix time at which slot 0 starts")
    head_timestamp: int = Field(description="unix time of the head block (the chain's clock)")
    slot_seconds: int
    period_slots: int = Field(description="slots per billing and profit-sharing period")
    gate_closure_seconds: int
    order_horizon_slots: int
    market_mode: Literal["trading", "sharing"] = Field(
        description="trading: members' orders clear in an auction per slot; sharing: each "
        "slot's production is allocated to members' consumption by a key after delivery"
    )
    sharing_key: str | None = Field(description='the allocation key ("dynamic" or "static")')
    tariff: TariffPublic


class FillPublic(BaseModel):
    index: int
    order_id: int
    owner: str
    side: Side
    energy_wh: int
    limit_price: int
    filled_wh: int


class IntentPublic(BaseModel):
    intent_id: str = Field(description="the intent's id: its EIP-712 struct hash (hex)")
    owner: str
    side: Side
    energy_wh: int
    limit_price: int
    filled_wh: int


class SlotPublic(BaseModel):
    slot: int
    gate_closure: int
    settled: bool
    mode: Mode
    price: int | None = Field(description="clearing price; null if none (nothing traded)")
    volume_wh: int
    orders: int = Field(
        description="orders in the slot's book: direct ones, and once settled "
        "also the signed intents its settlement carried"
    )
    fills: list[FillPublic] = Field(description="the direct orders that traded")
    intents: list[IntentPublic] = Field(
        default_factory=list,
        description="the signed intents the slot's settlement carried, filled or not (they are "
        "part of the book it cleared); empty before settlement",
    )


class AuditStatusPublic(BaseModel):
    first_slot: int
    next_slot: int = Field(description="every slot before it is settled against meters")
    last_digest: str | None = Field(
        description="audit chain link of chunk 0 (the first members) at next_slot - 1; every "
        "chunk of members has its own chain (ImbalanceSettlement.digestAt(slot, chunk))"
    )
    total_supply: int
    total_minted: int
    total_redeemed: int
    total_debt: int
    escrow_held: int
    supply_conserved: bool = Field(description="total supply == minted - redeemed")


class AuditRunPublic(BaseModel):
    """One run of the full audit, under way or finished."""

    block: int = Field(description="the head block when the run started: the block it audits")
    started_at: int = Field(description="unix time the run started")
    phase: Literal["reading events", "reading balances", "checking", "done", "failed"]
    elapsed_ms: int = Field(description="how long it has run (or ran, once finished)")
    events_read: int | None = Field(description="events read from the chain, once read")
    finished_at: int | None = Field(description="unix time it finished; null while it runs")


class AuditProgressPublic(BaseModel):
    """Where the full audit is: the run under way and the last result, without waiting."""

    head_block: int
    running: AuditRunPublic | None = Field(description="the run under way, if any")
    last: AuditRunPublic | None = Field(description="the last run that produced a report")
    last_report: dict[str, Any] | None = Field(
        description="that run's report, as GET /audit/report answers it"
    )
    last_error: str | None = Field(
        description="why the last run failed, if it failed after the last report"
    )


class PeriodPublic(BaseModel):
    period: int
    from_slot: int
    to_slot: int
    starts_at: int = Field(description="unix time its first slot starts")
    ends_at: int = Field(description="unix time its last slot ends")
    status: Literal["open", "ended", "settled", "closed"] = Field(
        description="open: its slots are not all over; ended: they are, but not all settled "
        "against the meters yet; settled: all are, the period's close (profit share, service "
        "fee) is not in the index yet; closed: its statement is complete"
    )


class PeriodsPublic(BaseModel):
    """The billing periods, newest first, and which one a statement should open on."""

    period_slots: int
    current_period: int = Field(description="the period holding the current slot")
    last_complete_period: int | None = Field(
        description="the newest closed period, else the newest settled one, else null"
    )
    periods: list[PeriodPublic]


# -- history (from the event index) -------------------------------------------------------


class TradePublic(BaseModel):
    slot: int
    order_id: int
    side: Side
    kind: Literal["direct", "intent"] = Field(
        description="direct: an on-chain order (a buy escrowed at its limit price); intent: a "
        "signed intent the settlement carried (paid from the balance, nothing escrowed)"
    )
    filled_wh: int
    amount: int = Field(description="n€ for the energy, fees excluded")
    paid: int = Field(description="n€ a buy paid: energy + platform fee + network fee; 0 for sells")
    received: int = Field(description="n€ a sell was credited: energy - platform fee; 0 for a buy")
    escrow_returned: int = Field(
        description="n€ a direct buy got back of its escrow (held at its limit price, less what it "
        "paid); 0 for a sell or an intent"
    )
    platform_fee: int
    network_fee: int = Field(description="n€ reduced grid fee on a local purchase; 0 for a sell")


class ReadingPublic(BaseModel):
    meter_id: str
    slot: int
    import_wh: int
    export_wh: int
    sequence: int
    block_number: int
    tx_hash: str


class SlotReadingPublic(ReadingPublic):
    member: str


class StatementLinePublic(BaseModel):
    key: str
    label: str = Field(description="What the figure is, in a few words")
    explanation: str = Field(description="One sentence a household understands")
    amount: int = Field(
        description="n€ (Wh for part `energy`); a member's costs are positive when paid, the "
        "DSO's income positive when received"
    )
    part: Literal["cost", "total", "account", "energy"] = Field(
        description="cost: adds into the net figure; total: net, BaU, saving; account: how the "
        "net became token movements; energy: Wh"
    )


class SlotBillPublic(BaseModel):
    slot: int
    metered: bool = Field(description="false: no reading, the trades stand as delivered")
    bought_wh: int
    sold_wh: int
    net_cost: int = Field(description="n€ of the slot's trades and settlement against the meter")
    bau_cost: int
    savings: int


class BillPublic(BaseModel):
    """A member's statement of account (market.statement) from the settled events."""

    member: str
    from_slot: int
    to_slot: int
    period: int | None
    net_cost: int = Field(description="n€ actually spent (negative: earned), everything included")
    bau_cost: int = Field(description="n€ the same metered energy would have cost via the grid")
    savings: int = Field(description="bau_cost - net_cost")
    lines: list[StatementLinePublic]
    slots: list[SlotBillPublic]


class DsoStatementPublic(BaseModel):
    """The DSO's statement of account (market.statement) from the settled events."""

    from_slot: int
    to_slot: int
    net_income: int = Field(description="n€ the DSO's accounts earned in the range")
    lines: list[StatementLinePublic]


class SettledSlotPublic(BaseModel):
    slot: int
    mode: Mode
    price: int | None
    volume_wh: int
    trade_value: int
    platform_fees: int
    network_fees: int
    block_number: int
    tx_hash: str


class FeeIncomePublic(BaseModel):
    from_slot: int
    to_slot: int
    slots_settled: int
    platform_fees: int = Field(description="n€ of trade fees (buy + sell) to the fee account")
    network_fees: int = Field(description="n€ of p2p grid fees to the network account")
