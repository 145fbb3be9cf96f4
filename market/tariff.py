"""The tariff in force for a slot: prices and fees, all integer n€ per Wh unless noted."""

from __future__ import annotations

from dataclasses import dataclass, fields

from market.orders import InvalidOrderError, Order, Side
from market.sharing import SharingTariff
from market.units import NanoEur, Price, is_int


class InvalidTariffError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices and fees. A Tariff is validated on construction, so every Tariff is usable."""

    retail_price: Price
    """What the DSO charges for energy imported from the grid."""
    feed_in_price: Price
    """What the DSO pays for energy exported to the grid."""
    grid_fee: Price
    """Network charge per Wh imported from the grid."""
    p2p_grid_fee: Price
    """Reduced network charge per Wh bought locally."""
    trade_fee_buy: Price
    """DSO platform fee per Wh bought in the local market."""
    trade_fee_sell: Price
    """DSO platform fee per Wh sold in the local market."""
    service_fee: NanoEur
    """Fixed fee per member and billing period (n€, not n€/Wh)."""
    community_price: Price
    """The aggregator's P2P price `pc` for community-mode clearing."""
    sharing_price: Price = -1
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
        for field in fields(self):
            value = getattr(self, field.name)
            if not is_int(value) or value < 0:
                raise InvalidTariffError(
                    f"{field.name} must be a non-negative integer, got {value!r}"
                )
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
        return SharingTariff(
            sharing_price=self.sharing_price,
            retail_price=self.retail_price,
            grid_fee=self.grid_fee,
            feed_in_price=self.feed_in_price,
            p2p_grid_fee=self.p2p_grid_fee,
            trade_fee_buy=self.trade_fee_buy,
            trade_fee_sell=self.trade_fee_sell,
        )

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
    mode: str
    """A clearing mode name ("uniform", "pay-as-bid", "community"); see market.clearing.Mode."""
