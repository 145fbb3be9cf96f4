// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ISettlement} from "../interfaces/ISettlement.sol";
import {Side} from "./MarketTypes.sol";
import {OrderWord} from "./OrderWord.sol";

/// @title ClearingCheck
/// @notice Verifies a submitted clearing against a slot's book in O(n), without sorting
/// (market-rules.md, "Clearing modes"). Book entries are in id order, so "lower id" == "lower index".
///
/// Walk modes (uniform, pay-as-bid): the fills are the rulebook walk's fills iff, on each side,
///  - no order is over-filled and cancelled orders get nothing;
///  - the fills form a priority prefix: every full order is ahead of the (at most one) partial
///    order, which is ahead of every unfilled order;
///  - bought == sold, and no crossing pair is left: best remaining bid < best remaining offer;
///  - every filled bid is >= every filled offer (uniform: via the price check
///    min filled bid >= p >= max filled offer; pay-as-bid: pair by pair).
/// A larger volume would need a filled bid below a filled offer; a smaller one leaves a crossing pair.
library ClearingCheck {
    using OrderWord for uint256;

    uint256 private constant NONE = type(uint256).max;

    /// @dev The pay-as-bid walk's position: current bid and offer (book indices) and their energy left.
    struct Walk {
        uint256 bid;
        uint256 offer;
        uint256 bidLeft;
        uint256 offerLeft;
    }

    /// @dev A tracked book entry: its index (NONE if absent) and limit price.
    struct Ref {
        uint256 index;
        uint256 price;
    }

    /// @dev Per-side summary gathered in one pass.
    struct SideScan {
        uint256 volume;
        Ref worstFull;
        Ref partialFill;
        Ref bestUnfilled;
    }

    /// @dev `book` has `fills`' length (the caller checks it).
    function _scan(uint256[] memory book, uint256[] calldata fills)
        private
        pure
        returns (SideScan memory bids, SideScan memory offers)
    {
        bids = _emptyScan();
        offers = _emptyScan();
        uint256 n = book.length;
        for (uint256 i; i < n; ++i) {
            uint256 w = book[i];
            uint256 f = fills[i];
            if (w.isCancelled()) {
                if (f != 0) revert ISettlement.SettlementCancelledFilled(i);
                continue;
            }
            uint256 e = w.energy();
            if (f > e) revert ISettlement.SettlementOverFill(i, f, e);
            bool sell = w.isSell();
            SideScan memory s = sell ? offers : bids;
            uint256 p = w.price();
            unchecked {
                s.volume += f; // f <= e < 2**40 and at most maxOrdersPerSlot entries
            }
            if (f == e) {
                if (_behind(sell, s.worstFull, i, p)) _set(s.worstFull, i, p);
            } else if (f == 0) {
                if (_before(sell, s.bestUnfilled, i, p)) _set(s.bestUnfilled, i, p);
            } else {
                if (s.partialFill.index != NONE) {
                    revert ISettlement.SettlementTwoPartials(_side(sell), s.partialFill.index, i);
                }
                _set(s.partialFill, i, p);
            }
        }
    }

    /// @notice Check fills of a uniform or pay-as-bid walk. Returns the traded volume in Wh.
    /// @param uniformPrice The submitted clearing price (checked only when `uniform`).
    function checkWalk(uint256[] memory book, uint256[] calldata fills, bool uniform, uint256 uniformPrice)
        internal
        pure
        returns (uint256 volume)
    {
        (SideScan memory bids, SideScan memory offers) = _scan(book, fills);
        if (bids.volume != offers.volume) revert ISettlement.SettlementVolumeMismatch(bids.volume, offers.volume);
        _checkPrefix(false, bids);
        _checkPrefix(true, offers);
        // With the prefix property the partial order, if any, is both the worst filled and the
        // best remaining order of its side; otherwise they are the worst full / best unfilled.
        Ref memory bidLeft = _orPartial(bids, bids.bestUnfilled);
        Ref memory offerLeft = _orPartial(offers, offers.bestUnfilled);
        if (bidLeft.index != NONE && offerLeft.index != NONE && bidLeft.price >= offerLeft.price) {
            revert ISettlement.SettlementCrossingLeft(bidLeft.price, offerLeft.price);
        }
        volume = bids.volume;
        if (!uniform || volume == 0) {
            if (uniformPrice != 0) revert ISettlement.SettlementClearingPrice(0, uniformPrice);
        } else {
            Ref memory bStar = _orPartial(bids, bids.worstFull);
            Ref memory aStar = _orPartial(offers, offers.worstFull);
            uint256 expected = (bStar.price + aStar.price) / 2;
            if (uniformPrice != expected) revert ISettlement.SettlementClearingPrice(expected, uniformPrice);
            if (bStar.price < expected) revert ISettlement.SettlementLimitViolated(bStar.index, bStar.price, expected);
            if (aStar.price > expected) revert ISettlement.SettlementLimitViolated(aStar.index, aStar.price, expected);
        }
    }

    /// @notice Check pay-as-bid pairs: they must be the walk's pairs, in walk order, and add up to the
    /// fills. Returns each sell entry's traded value (sum of bid limit * q over its pairs).
    function checkPairs(uint256[] memory book, uint256[] calldata fills, uint256[] calldata pairs)
        internal
        pure
        returns (uint256[] memory sellValue)
    {
        uint256 n = book.length;
        uint256[] memory paired = new uint256[](n);
        sellValue = new uint256[](n);
        Walk memory walk = Walk(NONE, NONE, 0, 0);
        for (uint256 k; k < pairs.length; ++k) {
            (uint256 b, uint256 o, uint256 q) = _pairStep(book, walk, k, pairs[k]);
            paired[b] += q;
            paired[o] += q;
            sellValue[o] += book[b].price() * q;
        }
        for (uint256 i; i < n; ++i) {
            if (paired[i] != fills[i]) revert ISettlement.SettlementPairsMismatchFills(i, paired[i], fills[i]);
        }
    }

    /// @dev Check pair `k` against the walk's state and advance it. Returns (bid, offer, energy).
    function _pairStep(uint256[] memory book, Walk memory walk, uint256 k, uint256 pair)
        private
        pure
        returns (uint256 b, uint256 o, uint256 q)
    {
        b = uint32(pair);
        o = uint32(pair >> 32);
        q = pair >> 64;
        if (b >= book.length || o >= book.length) revert ISettlement.SettlementPairInvalid(k, 1);
        uint256 wb = book[b];
        uint256 wo = book[o];
        if (wb.isSell() || wb.isCancelled() || !wo.isSell() || wo.isCancelled()) {
            revert ISettlement.SettlementPairInvalid(k, 1);
        }
        (walk.bid, walk.bidLeft) = _advance(book, false, k, walk.bid, walk.bidLeft, b);
        (walk.offer, walk.offerLeft) = _advance(book, true, k, walk.offer, walk.offerLeft, o);
        if (q == 0 || q != (walk.bidLeft < walk.offerLeft ? walk.bidLeft : walk.offerLeft)) {
            revert ISettlement.SettlementPairInvalid(k, 4);
        }
        if (wb.price() < wo.price()) revert ISettlement.SettlementLimitViolated(o, wo.price(), wb.price());
        walk.bidLeft -= q;
        walk.offerLeft -= q;
    }

    /// @notice Check community-mode fills: pro rata to eligible orders, flooring leftovers one Wh each
    /// to ascending ids. Returns the traded volume V = min(S, D).
    function checkCommunity(uint256[] memory book, uint256[] calldata fills, uint256 pc)
        internal
        pure
        returns (uint256 volume)
    {
        uint256 n = book.length;
        uint256 supply = 0;
        uint256 demand = 0;
        for (uint256 i; i < n; ++i) {
            uint256 w = book[i];
            if (_eligible(w, pc)) {
                if (w.isSell()) supply += w.energy();
                else demand += w.energy();
            }
        }
        volume = supply < demand ? supply : demand;
        // Floored shares, then the leftover Wh per side. When V < T no floored share is full and the
        // leftover is below the number of eligible orders; when V == T every share is exact. So one
        // round of "one Wh each, ascending id, skipping full ones" always places the whole leftover.
        uint256 buyLeft = volume;
        uint256 sellLeft = volume;
        for (uint256 i; i < n; ++i) {
            uint256 w = book[i];
            if (!_eligible(w, pc)) continue;
            if (w.isSell()) sellLeft -= w.energy() * volume / supply;
            else buyLeft -= w.energy() * volume / demand;
        }
        for (uint256 i; i < n; ++i) {
            uint256 w = book[i];
            uint256 expected = 0;
            if (_eligible(w, pc)) {
                uint256 e = w.energy();
                bool sell = w.isSell();
                expected = e * volume / (sell ? supply : demand);
                if (expected < e) {
                    if (sell && sellLeft != 0) {
                        ++expected;
                        --sellLeft;
                    } else if (!sell && buyLeft != 0) {
                        ++expected;
                        --buyLeft;
                    }
                }
            }
            if (fills[i] != expected) revert ISettlement.SettlementProRata(i, expected, fills[i]);
        }
    }

    function _eligible(uint256 w, uint256 pc) private pure returns (bool) {
        if (w.isCancelled()) return false;
        return w.isSell() ? w.price() <= pc : w.price() >= pc;
    }

    /// @dev Walk step for one side: keep the current order while it has energy left; switch only when
    /// it is exhausted, and only to an order behind it in priority.
    function _advance(uint256[] memory book, bool sell, uint256 k, uint256 current, uint256 rem, uint256 next)
        private
        pure
        returns (uint256, uint256)
    {
        if (next == current) {
            if (rem == 0) revert ISettlement.SettlementPairInvalid(k, 2);
            return (current, rem);
        }
        if (current != NONE) {
            if (rem != 0) revert ISettlement.SettlementPairInvalid(k, 2);
            if (!_ahead(sell, current, book[current].price(), next, book[next].price())) {
                revert ISettlement.SettlementPairInvalid(k, 3);
            }
        }
        return (next, book[next].energy());
    }

    function _checkPrefix(bool sell, SideScan memory s) private pure {
        _requireAhead(sell, s.worstFull, s.partialFill);
        _requireAhead(sell, s.worstFull, s.bestUnfilled);
        _requireAhead(sell, s.partialFill, s.bestUnfilled);
    }

    /// @dev `filled` (more filled) must be ahead of `lessFilled`, when both exist.
    function _requireAhead(bool sell, Ref memory filled, Ref memory lessFilled) private pure {
        if (filled.index == NONE || lessFilled.index == NONE) return;
        if (!_ahead(sell, filled.index, filled.price, lessFilled.index, lessFilled.price)) {
            revert ISettlement.SettlementPriorityViolated(_side(sell), lessFilled.index, filled.index);
        }
    }

    /// @dev Whether entry (xi, xp) has priority over entry (yi, yp) on its side: better price, or
    /// the same price and a lower id (= lower index).
    function _ahead(bool sell, uint256 xi, uint256 xp, uint256 yi, uint256 yp) private pure returns (bool) {
        if (xp != yp) return sell ? xp < yp : xp > yp;
        return xi < yi;
    }

    /// @dev Whether entry (i, p) is behind `ref` in priority (or `ref` is absent).
    function _behind(bool sell, Ref memory ref, uint256 i, uint256 p) private pure returns (bool) {
        return ref.index == NONE || _ahead(sell, ref.index, ref.price, i, p);
    }

    /// @dev Whether entry (i, p) is ahead of `ref` in priority (or `ref` is absent).
    function _before(bool sell, Ref memory ref, uint256 i, uint256 p) private pure returns (bool) {
        return ref.index == NONE || _ahead(sell, i, p, ref.index, ref.price);
    }

    function _set(Ref memory ref, uint256 i, uint256 p) private pure {
        ref.index = i;
        ref.price = p;
    }

    function _emptyScan() private pure returns (SideScan memory s) {
        s.worstFull.index = NONE;
        s.partialFill.index = NONE;
        s.bestUnfilled.index = NONE;
    }

    function _orPartial(SideScan memory s, Ref memory otherwise) private pure returns (Ref memory) {
        return s.partialFill.index != NONE ? s.partialFill : otherwise;
    }

    function _side(bool sell) private pure returns (Side) {
        return sell ? Side.Sell : Side.Buy;
    }
}
