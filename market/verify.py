"""An independent check of a clearing against the rulebook.

It mirrors what the on-chain Settlement contract re-checks before it pays anything, so the
matcher, the auditor and the tests can all ask "would this clearing be accepted?". It shares
no code with `clearing.clear`: it checks the properties the rulebook lists (fills are a
priority prefix, no crossing pair is left, the price is the last pair's midpoint, amounts are
price times Wh, the community split is pro rata) rather than recomputing the result the
same way, so a bug in one is unlikely to hide in the other.

`verify(orders, clear(orders, mode)) == []` always holds. Rule names are stable:

- ``unknown-order``: a fill for no order of the book (or keyed by another order's id);
- ``missing-order``: an order of the book without a fill;
- ``side``: a fill on the wrong side;
- ``negative-fill`` / ``over-fill``: a fill outside 0..energy;
- ``volume-mismatch``: Wh bought, Wh sold and the reported volume differ (community: or
  differ from min(S, D));
- ``priority``: an order is filled although an order ahead of it on its side is not full;
- ``crossing-left``: a bid and an offer that still cross are both left with Wh;
- ``clearing-price``: the clearing price is not what the rule gives;
- ``limit``: an order trades at a price worse than its limit (or, in community mode, trades
  without being eligible);
- ``amount``: an amount is not what the prices give;
- ``pairs``: the pairs are not the walk's pairs, or not at the mode's price;
- ``pro-rata``: a community fill is not the pro-rata share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from market.clearing import Clearing, Mode, check_community_price
from market.orders import Order, Side, sorted_by_id
from market.units import NanoEur, Price, Wh


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    order_id: int | None
    detail: str


def verify(
    orders: Iterable[Order], clearing: Clearing, community_price: Price | None = None
) -> list[Violation]:
    """Every way `clearing` breaks the rulebook for this book; empty if it is valid.

    `community_price` is the `pc` the clearing must have used, required exactly when the
    clearing claims community mode (ValueError otherwise). Raises InvalidOrderError if the
    book itself has duplicate ids.
    """
    check_community_price(clearing.mode, community_price)
    book = sorted_by_id(orders)
    out: list[Violation] = []
    filled, amounts = _read_fills(book, clearing, out)
    _check_volume(book, clearing, filled, out)
    if community_price is not None:
        _check_community(book, clearing, community_price, filled, amounts, out)
    else:
        _check_walk(book, clearing, filled, amounts, out)
    return out


def _read_fills(
    book: list[Order], clearing: Clearing, out: list[Violation]
) -> tuple[dict[int, Wh], dict[int, NanoEur]]:
    """Filled Wh and amounts per order id as claimed (0 for orders without a fill)."""
    orders = {order.id: order for order in book}
    filled = dict.fromkeys(orders, 0)
    amounts = dict.fromkeys(orders, 0)
    for key, fill in clearing.fills.items():
        order = orders.get(key)
        if order is None or fill.order_id != key:
            out.append(Violation("unknown-order", key, f"fill {fill} is for no order {key}"))
            continue
        if fill.side != order.side:
            out.append(Violation("side", key, f"fill side {fill.side}, order side {order.side}"))
        if fill.filled_wh < 0:
            out.append(Violation("negative-fill", key, f"filled {fill.filled_wh} Wh"))
        elif fill.filled_wh > order.energy_wh:
            out.append(
                Violation("over-fill", key, f"filled {fill.filled_wh} Wh of {order.energy_wh} Wh")
            )
        filled[key] = fill.filled_wh
        amounts[key] = fill.amount
    for order in book:
        if order.id not in clearing.fills:
            out.append(Violation("missing-order", order.id, "no fill for this order"))
    return filled, amounts


def _check_volume(
    book: list[Order], clearing: Clearing, filled: dict[int, Wh], out: list[Violation]
) -> None:
    bought = sum(filled[o.id] for o in book if o.side is Side.BUY)
    sold = sum(filled[o.id] for o in book if o.side is Side.SELL)
    if not bought == sold == clearing.volume_wh:
        out.append(
            Violation(
                "volume-mismatch",
                None,
                f"bought {bought} Wh, sold {sold} Wh, reported volume {clearing.volume_wh} Wh",
            )
        )


def _ranked(book: list[Order], side: Side) -> list[Order]:
    """One side best first: better price, then lower id."""
    if side is Side.BUY:
        return sorted((o for o in book if o.side is side), key=lambda o: (-o.price, o.id))
    return sorted((o for o in book if o.side is side), key=lambda o: (o.price, o.id))


def _check_walk(
    book: list[Order],
    clearing: Clearing,
    filled: dict[int, Wh],
    amounts: dict[int, NanoEur],
    out: list[Violation],
) -> None:
    """Uniform and pay-as-bid."""
    bids = _ranked(book, Side.BUY)
    offers = _ranked(book, Side.SELL)
    _check_priority(bids, filled, out)
    _check_priority(offers, filled, out)
    _check_nothing_crosses(bids, offers, filled, out)

    # Fills that are priority prefixes of equal size fix the walk's pairs: replay it.
    walk = _replay_walk(bids, offers, filled)
    for bid, offer, _ in walk:
        if bid.price < offer.price:
            out.append(
                Violation(
                    "limit",
                    bid.id,
                    f"bid {bid.id} @ {bid.price} paired with offer {offer.id} @ {offer.price}",
                )
            )
    expected_pairs = [(bid.id, offer.id, q) for bid, offer, q in walk]
    claimed_pairs = [(p.buy_id, p.sell_id, p.energy_wh) for p in clearing.pairs]
    if claimed_pairs != expected_pairs:
        out.append(Violation("pairs", None, _first_difference(claimed_pairs, expected_pairs)))

    if clearing.mode is Mode.UNIFORM:
        price = _check_uniform_price(bids, offers, clearing, filled, out)
        pair_price = {order.id: price for order in bids}
        expected = {o.id: (0 if price is None else price) * filled[o.id] for o in book}
    else:
        if clearing.clearing_price is not None:
            out.append(
                Violation(
                    "clearing-price",
                    None,
                    f"pay-as-bid has no clearing price, got {clearing.clearing_price}",
                )
            )
        pair_price = {order.id: order.price for order in bids}
        expected = dict.fromkeys(filled, 0)
        for bid, offer, q in walk:
            expected[bid.id] += bid.price * q
            expected[offer.id] += bid.price * q
    for pair in clearing.pairs:
        if pair.buy_id in pair_price and pair.price != pair_price[pair.buy_id]:
            out.append(
                Violation(
                    "pairs",
                    pair.buy_id,
                    f"pair {pair} should trade at {pair_price[pair.buy_id]}",
                )
            )
    _check_amounts(expected, amounts, out)


def _first_difference(
    claimed: list[tuple[int, int, Wh]], expected: list[tuple[int, int, Wh]]
) -> str:
    """Where the claimed pairs (buy id, sell id, Wh) first leave the walk's."""
    i = next(
        (k for k, (c, e) in enumerate(zip(claimed, expected, strict=False)) if c != e),
        min(len(claimed), len(expected)),
    )
    got = claimed[i] if i < len(claimed) else "no pair"
    walk = expected[i] if i < len(expected) else "no pair"
    return f"pair {i}: got {got}, the walk gives {walk}"


def _check_priority(ranked: list[Order], filled: dict[int, Wh], out: list[Violation]) -> None:
    """Fills on a side are full, full, ..., at most one partial, then empty."""
    gap = False  # an order ahead was left with Wh
    for order in ranked:
        if gap and filled[order.id] > 0:
            out.append(Violation("priority", order.id, "filled while an order ahead is not full"))
        if filled[order.id] < order.energy_wh:
            gap = True


def _check_nothing_crosses(
    bids: list[Order], offers: list[Order], filled: dict[int, Wh], out: list[Violation]
) -> None:
    open_bids = [o for o in bids if filled[o.id] < o.energy_wh]
    open_offers = [o for o in offers if filled[o.id] < o.energy_wh]
    if open_bids and open_offers:
        bid = max(open_bids, key=lambda o: o.price)
        offer = min(open_offers, key=lambda o: o.price)
        if bid.price >= offer.price:
            out.append(
                Violation(
                    "crossing-left",
                    bid.id,
                    f"bid {bid.id} @ {bid.price} and offer {offer.id} @ {offer.price} "
                    "both have Wh left",
                )
            )


def _replay_walk(
    bids: list[Order], offers: list[Order], filled: dict[int, Wh]
) -> list[tuple[Order, Order, Wh]]:
    """Pair the filled Wh of both rankings in order, q = min of what is left of each."""
    bid_fills = [(o, filled[o.id]) for o in bids if filled[o.id] > 0]
    offer_fills = [(o, filled[o.id]) for o in offers if filled[o.id] > 0]
    walk: list[tuple[Order, Order, Wh]] = []
    i = j = 0
    used_bid = used_offer = 0  # Wh of the current bid and offer paired so far
    while i < len(bid_fills) and j < len(offer_fills):
        (bid, bid_filled), (offer, offer_filled) = bid_fills[i], offer_fills[j]
        q = min(bid_filled - used_bid, offer_filled - used_offer)
        walk.append((bid, offer, q))
        used_bid += q
        used_offer += q
        if used_bid == bid_filled:
            i, used_bid = i + 1, 0
        if used_offer == offer_filled:
            j, used_offer = j + 1, 0
    return walk


def _check_uniform_price(
    bids: list[Order],
    offers: list[Order],
    clearing: Clearing,
    filled: dict[int, Wh],
    out: list[Violation],
) -> Price | None:
    """Check the clearing price and that every fill respects it; return the right price."""
    filled_bids = [o for o in bids if filled[o.id] > 0]
    filled_offers = [o for o in offers if filled[o.id] > 0]
    if not filled_bids or not filled_offers:
        price = None
    else:
        price = (min(o.price for o in filled_bids) + max(o.price for o in filled_offers)) // 2
    if clearing.clearing_price != price:
        out.append(
            Violation(
                "clearing-price",
                None,
                f"clearing price {clearing.clearing_price}, the fills give {price}",
            )
        )
    if price is not None:
        for order in filled_bids:
            if order.price < price:
                out.append(Violation("limit", order.id, f"bid @ {order.price} pays {price}"))
        for order in filled_offers:
            if order.price > price:
                out.append(Violation("limit", order.id, f"offer @ {order.price} gets {price}"))
    return price


def _check_amounts(
    expected: dict[int, NanoEur], amounts: dict[int, NanoEur], out: list[Violation]
) -> None:
    for order_id, amount in expected.items():
        if amounts[order_id] != amount:
            out.append(
                Violation("amount", order_id, f"amount {amounts[order_id]}, expected {amount}")
            )


def _check_community(
    book: list[Order],
    clearing: Clearing,
    community_price: Price,
    filled: dict[int, Wh],
    amounts: dict[int, NanoEur],
    out: list[Violation],
) -> None:
    if clearing.clearing_price != community_price:
        out.append(
            Violation(
                "clearing-price",
                None,
                f"clearing price {clearing.clearing_price}, community price {community_price}",
            )
        )
    if clearing.pairs:
        out.append(Violation("pairs", None, "community mode has no pairs"))

    def eligible(order: Order) -> bool:
        if order.side is Side.BUY:
            return order.price >= community_price
        return order.price <= community_price

    for order in book:
        if not eligible(order) and filled[order.id] != 0:
            out.append(
                Violation("limit", order.id, f"not eligible at {community_price} but filled")
            )
    bids = [o for o in book if o.side is Side.BUY and eligible(o)]
    offers = [o for o in book if o.side is Side.SELL and eligible(o)]
    volume = min(sum(o.energy_wh for o in bids), sum(o.energy_wh for o in offers))
    if clearing.volume_wh != volume:
        out.append(
            Violation(
                "volume-mismatch",
                None,
                f"volume {clearing.volume_wh} Wh, min(S, D) is {volume} Wh",
            )
        )
    _check_pro_rata(bids, volume, filled, out)
    _check_pro_rata(offers, volume, filled, out)
    _check_amounts({o.id: community_price * filled[o.id] for o in book}, amounts, out)


def _check_pro_rata(
    eligible: Sequence[Order], volume: Wh, filled: dict[int, Wh], out: list[Violation]
) -> None:
    """Each eligible order (given in id order) has its floor share, plus one Wh for a prefix
    of them; that the extras add up to V is the volume check's business."""
    total = sum(o.energy_wh for o in eligible)
    extra_ended = False  # an order went without an extra Wh
    for order in eligible:
        share = order.energy_wh * volume // total
        extra = filled[order.id] - share
        if extra not in (0, 1):
            out.append(
                Violation(
                    "pro-rata", order.id, f"filled {filled[order.id]} Wh, share is {share} Wh"
                )
            )
        elif extra == 1 and extra_ended:
            out.append(Violation("pro-rata", order.id, "extra Wh while a lower id got none"))
        elif extra == 0:
            extra_ended = True
