"""The tariff in force for a slot: prices and fees, all integer n€ per Wh unless noted."""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any

from market.orders import InvalidOrderError, Order, Side
from market.records import record_from
from market.sharing import SharingTariff
from market.units import NanoEur, Price, is_int

PRICE_CAP = 2**40
"""Every price and per-Wh fee is below this (Community.sol's PRICE_CAP), so that a price times an
energy fits easily in the contracts' arithmetic."""
SERVICE_FEE_CAP = 2**64
"""The service fee is stored as a uint64."""


class InvalidTariffError(ValueError):
    pass


def _abi(abi: str, position: int, cap: int = PRICE_CAP) -> dict[str, Any]:
    """A field of the slot rules, declared: its name in the contracts' `Tariff` struct
    (contracts/lib/MarketTypes.sol), its position there, and the exclusive upper bound the
    contracts hold it within. These declarations are the one list of tariff fields: the ABI
    encoding (chain/codec.py), the API's and the settings' tariff models (checked against it by
    tests/market/test_tariff_fields.py) and the index's columns (generated from the contract's
    TariffScheduled event) follow it."""
    return {"abi": abi, "position": position, "cap": cap}


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices and fees. A Tariff is validated on construction, so every Tariff is usable."""

    retail_price: Price = field(metadata=_abi("retailPrice", 0))
    """What the DSO charges for energy imported from the grid."""
    feed_in_price: Price = field(metadata=_abi("feedInPrice", 1))
    """What the DSO pays for energy exported to the grid."""
    grid_fee: Price = field(metadata=_abi("gridFee", 2))
    """Network charge per Wh imported from the grid."""
    p2p_grid_fee: Price = field(metadata=_abi("p2pGridFee", 3))
    """Reduced network charge per Wh bought locally."""
    trade_fee_buy: Price = field(metadata=_abi("tradeFeeBuy", 4))
    """DSO platform fee per Wh bought in the local market."""
    trade_fee_sell: Price = field(metadata=_abi("tradeFeeSell", 5))
    """DSO platform fee per Wh sold in the local market."""
    service_fee: NanoEur = field(metadata=_abi("serviceFee", 7, SERVICE_FEE_CAP))
    """Fixed fee per member and billing period (n€, not n€/Wh)."""
    community_price: Price = field(metadata=_abi("communityPrice", 6))
    """The aggregator's P2P price `pc` for community-mode clearing."""
    sharing_price: Price = field(default=-1, metadata=_abi("sharingPrice", 9))
    """The price of a shared Wh in the `sharing` mode (market-rules.md, "Energy sharing"). Left out
    (-1), it is `community_price`, so a tariff written before the sharing mode stays valid."""

    def __post_init__(self) -> None:
        if self.sharing_price == -1:
            object.__setattr__(self, "sharing_price", self.community_price)
        self.validate()

    def validate(self) -> None:
        """Raise InvalidTariffError unless the tariff keeps every settlement non-negative.

        `trade_fee_sell <= feed_in_price` matters because every trade price is at least the
        seller's limit, which is at least `feed_in_price`: a seller's proceeds
        `price * q - trade_fee_sell * q` can then never be negative.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if not is_int(value) or value < 0:
                raise InvalidTariffError(f"{f.name} must be a non-negative integer, got {value!r}")
            if value >= f.metadata["cap"]:
                raise InvalidTariffError(f"{f.name} must be below {f.metadata['cap']}, got {value}")
        if not 0 < self.feed_in_price <= self.retail_price:
            raise InvalidTariffError(
                f"need 0 < feed_in_price <= retail_price, got {self.feed_in_price} and "
                f"{self.retail_price}"
            )
        self._check_between_grid_prices("community_price")
        self._check_sell_fee_within("feed_in_price")
        self._check_between_grid_prices("sharing_price")
        self._check_sell_fee_within("sharing_price")  # implied by the two checks above; kept

    def _check_between_grid_prices(self, name: str) -> None:
        """Raise InvalidTariffError unless feed_in_price <= the price `name` <= retail_price."""
        price: Price = getattr(self, name)
        if not self.price_in_bounds(price):
            raise InvalidTariffError(
                f"need feed_in_price <= {name} <= retail_price, got {name} {price}"
            )

    def _check_sell_fee_within(self, name: str) -> None:
        """Raise InvalidTariffError unless trade_fee_sell <= the price `name`: a seller paid
        that price never owes more fee than it earns."""
        price: Price = getattr(self, name)
        if self.trade_fee_sell > price:
            raise InvalidTariffError(
                f"need trade_fee_sell <= {name}, got {self.trade_fee_sell} > {price}"
            )

    def price_in_bounds(self, price: Price) -> bool:
        return self.feed_in_price <= price <= self.retail_price

    def check_price_bounds(self, order: Order) -> None:
        """Raise InvalidOrderError unless feed_in_price <= order.price <= retail_price."""
        if not self.price_in_bounds(order.price):
            raise InvalidOrderError(
                order.id,
                f"price {order.price} outside the tariff's bounds "
                f"[{self.feed_in_price}, {self.retail_price}]",
            )

    def for_sharing(self) -> SharingTariff:
        """The fields the `sharing` mode prices with (market.sharing's own view of a tariff)."""
        return record_from(SharingTariff, self)

    @property
    def buy_fee_rate(self) -> Price:
        """Fees per Wh a buyer pays on top of the energy price."""
        return self.trade_fee_buy + self.p2p_grid_fee

    def escrow_for(self, order: Order) -> NanoEur:
        """A buy escrows its limit times its energy plus the largest fee it can incur; a sell
        escrows nothing (its energy is delivered, not prepaid)."""
        if order.side is Side.BUY:
            return (order.price + self.buy_fee_rate) * order.energy_wh
        return 0


@dataclass(frozen=True, slots=True)
class SlotRules:
    """What is in force for a slot: the tariff and the clearing mode (the contracts' `Tariff`
    struct carries both, so a mode change, like a tariff change, only applies to future slots)."""

    tariff: Tariff
    mode: str = field(metadata=_abi("mode", 8))
    """A clearing mode name ("uniform", "pay-as-bid", "community"); see market.clearing.Mode."""


TARIFF_FIELDS: tuple[Field[Any], ...] = fields(Tariff)
"""The tariff's fields, as declared above (the price and fee terms, without the mode)."""
TARIFF_NAMES: frozenset[str] = frozenset(f.name for f in TARIFF_FIELDS)

RULE_FIELDS: tuple[Field[Any], ...] = tuple(
    sorted(
        (*TARIFF_FIELDS, *(f for f in fields(SlotRules) if f.name == "mode")),
        key=lambda f: f.metadata["position"],
    )
)
"""The slot rules' fields in the order of the contracts' `Tariff` struct (the mode among them)."""


def tariff_terms(tariff: Tariff) -> dict[str, int]:
    """The tariff as `{field name: value}` in declaration order (for a model or a row)."""
    return {f.name: getattr(tariff, f.name) for f in TARIFF_FIELDS}
