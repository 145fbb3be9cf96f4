"""Request (`XCreate`) and response (`XPublic`) models. Amounts are integers: n€, Wh, n€/Wh.

Every integer that goes into a contract call is bounded by its ABI type here, so out-of-range
input is a 422 before anything is encoded or sent. Request integers are strict (`StrictInt`):
pydantic's lax mode would take `true` as 1, `1.0` as 1 and `"1"` as 1 (a member was once
registered with `"lock_in_slots": true`); only a JSON integer is an integer here.
The order models (`OrderCreate`, `OrderIntentCreate`, `CancelIntentCreate`, `OrderCancel`) still
use the lax `U64` / `U256` / `int`: they are being rewritten with order settlement.
"""

from __future__ import annotations

from typing import Annotated, Literal

from eth_utils.address import to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

U64 = Annotated[int, Field(ge=0, lt=2**64)]
U256 = Annotated[int, Field(ge=0, lt=2**256)]
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


class OrderCreate(Strict):
    """An EIP-712 OrderIntent (chain.signing.ORDER_INTENT_TYPE) and the owner's signature."""

    owner: Address
    from_slot: U64
    to_slot: U64
    side: Side
    energy_wh: U256
    limit_price: U256
    nonce: U256
    deadline: U256
    signature: Signature


class OrderIntentCreate(Strict):
    """What to sign: the API answers with the EIP-712 typed data (nonce and deadline filled)."""

    from_slot: U64
    to_slot: U64 | None = None
    side: Side
    energy_wh: U256
    limit_price: U256
    deadline_seconds: int = Field(default=600, gt=0, le=86_400)


class TypedDataPublic(BaseModel):
    typed_data: dict[str, object]


class CancelIntentCreate(Strict):
    """What to sign to cancel an order: the API answers with the EIP-712 CancelIntent."""

    deadline_seconds: int = Field(default=600, gt=0, le=86_400)


class OrderCancel(Strict):
    """An EIP-712 CancelIntent's nonce and deadline and the owner's signature."""

    nonce: U256
    deadline: U256
    signature: Signature


class OrdersPlacedPublic(BaseModel):
    order_ids: list[int]
    tx_hash: str


class OrderPublic(BaseModel):
    id: int
    owner: str
    slot: int
    index: int
    side: Side
    energy_wh: int
    limit_price: int
    escrow: int
    status: Literal["open", "closed", "settled", "cancelled"]
    tx_hash: str


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


class TopUpConfirm(Strict):
    """A top-up paid without a request through the API (the bank reference typed in)."""

    member: Address
    amount: StrictInt = Field(gt=0, lt=2**96)
    reference: str = Field(min_length=1, max_length=140)


class TariffFields(BaseModel):
    retail_price: StrictInt = Field(ge=0, lt=2**40)
    feed_in_price: StrictInt = Field(ge=0, lt=2**40)
    grid_fee: StrictInt = Field(ge=0, lt=2**40)
    p2p_grid_fee: StrictInt = Field(ge=0, lt=2**40)
    trade_fee_buy: StrictInt = Field(ge=0, lt=2**40)
    trade_fee_sell: StrictInt = Field(ge=0, lt=2**40)
    community_price: StrictInt = Field(ge=0, lt=2**40)
    service_fee: StrictInt = Field(ge=0, lt=2**96)
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
    tariff: TariffPublic


class FillPublic(BaseModel):
    index: int
    order_id: int
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
    orders: int
    fills: list[FillPublic]


class AuditStatusPublic(BaseModel):
    first_slot: int
    next_slot: int = Field(description="every slot before it is settled against meters")
    last_digest: str | None
    total_supply: int
    total_minted: int
    total_redeemed: int
    total_debt: int
    escrow_held: int
    supply_conserved: bool = Field(description="total supply == minted - redeemed")


# -- history (from the event index) -------------------------------------------------------


class TradePublic(BaseModel):
    slot: int
    order_id: int
    side: Side
    filled_wh: int
    amount: int = Field(description="n€ for the energy, fees excluded")
    paid: int = Field(description="n€ the buyer paid out of escrow (energy + fees); 0 for sells")
    received: int = Field(description="n€ the member got (escrow back, or sale less fee)")
    platform_fee: int
    network_fee: int


class ReadingPublic(BaseModel):
    meter_id: str
    slot: int
    import_wh: int
    export_wh: int
    sequence: int
    block_number: int
    tx_hash: str


class BillFields(BaseModel):
    bought_wh: int
    sold_wh: int
    metered_net_export_wh: int
    energy_bought: int
    energy_sold: int
    platform_fees: int
    network_fees: int
    imbalance_credit: int
    imbalance_energy_charge: int
    imbalance_network_charge: int
    service_fee: int
    bau_cost: int = Field(description="n€ the same energy would have cost through the grid")
    net_cost: int = Field(description="n€ actually spent (negative: earned)")
    savings: int = Field(description="bau_cost - net_cost")


class SlotBillPublic(BillFields):
    slot: int
    metered: bool = Field(description="false: no reading, the trades stand as delivered")


class BillPublic(BaseModel):
    member: str
    from_slot: int
    to_slot: int
    period: int | None
    total: BillFields
    slots: list[SlotBillPublic]


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
