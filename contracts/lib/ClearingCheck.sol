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

    /// @dev Per-side summary gathered in one pass. Indices are book indices, NONE if absent.
    struct SideScan {
        uint256 volume;
        uint256 worstFull;
        uint256 partialIdx;
        uint256 bestUnfilled;
        uint256 worstFilled; // lowest-priority order with a fill (its limit is b* or a*)
        uint256 bestRemaining; // highest-priority order not full
    }

    /// @dev The pay-as-bid walk's position: current bid and offer (book indices) and their energy left.
    struct Walk {
        uint256 bid;
        uint256 offer;
        uint256 bidLeft;
        uint256 offerLeft;
    }

    /// @notice Check fills of a uniform or pay-as-bid walk. Returns the traded volume in Wh.
    /// @param uniformPrice The submitted clearing price (checked only when `uniform`).
    function checkWalk(uint256[] memory book, uint256[] calldata fills, bool uniform, uint256 uniformPrice)
        internal
        pure
        returns (uint256 volume)
    {
        SideScan memory bids = SideScan(0, NONE, NONE, NONE, NONE, NONE);
        SideScan memory offers = SideScan(0, NONE, NONE, NONE, NONE, NONE);
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
            s.volume += f;
            if (f == e) {
                if (s.worstFull == NONE || _ahead(book, sell, s.worstFull, i)) s.worstFull = i;
            } else if (f == 0) {
                if (s.bestUnfilled == NONE || _ahead(book, sell, i, s.bestUnfilled)) s.bestUnfilled = i;
            } else {
                if (s.partialIdx != NONE) revert ISettlement.SettlementTwoPartials(_side(sell), s.partialIdx, i);
                s.partialIdx = i;
            }
            if (f != 0 && (s.worstFilled == NONE || _ahead(book, sell, s.worstFilled, i))) s.worstFilled = i;
            if (f != e && (s.bestRemaining == NONE || _ahead(book, sell, i, s.bestRemaining))) s.bestRemaining = i;
        }
        if (bids.volume != offers.volume) revert ISettlement.SettlementVolumeMismatch(bids.volume, offers.volume);
        _checkPrefix(book, false, bids);
        _checkPrefix(book, true, offers);
        if (bids.bestRemaining != NONE && offers.bestRemaining != NONE) {
            uint256 bidPrice = book[bids.bestRemaining].price();
            uint256 offerPrice = book[offers.bestRemaining].price();
            if (bidPrice >= offerPrice) revert ISettlement.SettlementCrossingLeft(bidPrice, offerPrice);
        }
        volume = bids.volume;
        if (!uniform) {
            if (uniformPrice != 0) revert ISettlement.SettlementClearingPrice(0, uniformPrice);
        } else if (volume == 0) {
            if (uniformPrice != 0) revert ISettlement.SettlementClearingPrice(0, uniformPrice);
        } else {
            uint256 bStar = book[bids.worstFilled].price();
            uint256 aStar = book[offers.worstFilled].price();
            uint256 expected = (bStar + aStar) / 2;
            if (uniformPrice != expected) revert ISettlement.SettlementClearingPrice(expected, uniformPrice);
            if (bStar < expected) revert ISettlement.SettlementLimitViolated(bids.worstFilled, bStar, expected);
            if (aStar > expected) revert ISettlement.SettlementLimitViolated(offers.worstFilled, aStar, expected);
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
        uint256 supply;
        uint256 demand;
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
            uint256 expected;
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
            if (!_ahead(book, sell, current, next)) revert ISettlement.SettlementPairInvalid(k, 3);
        }
        return (next, book[next].energy());
    }

    function _checkPrefix(uint256[] memory book, bool sell, SideScan memory s) private pure {
        _requireAhead(book, sell, s.worstFull, s.partialIdx);
        _requireAhead(book, sell, s.worstFull, s.bestUnfilled);
        _requireAhead(book, sell, s.partialIdx, s.bestUnfilled);
    }

    /// @dev `filled` (more filled) must be ahead of `lessFilled`, when both exist.
    function _requireAhead(uint256[] memory book, bool sell, uint256 filled, uint256 lessFilled) private pure {
        if (filled == NONE || lessFilled == NONE) return;
        if (!_ahead(book, sell, filled, lessFilled)) {
            revert ISettlement.SettlementPriorityViolated(_side(sell), lessFilled, filled);
        }
    }

    /// @dev Whether entry `x` has priority over entry `y` on its side: better price, or the same price
    /// and a lower id (= lower index).
    function _ahead(uint256[] memory book, bool sell, uint256 x, uint256 y) private pure returns (bool) {
        uint256 px = book[x].price();
        uint256 py = book[y].price();
        if (px != py) return sell ? px < py : px > py;
        return x < y;
    }

    function _side(bool sell) private pure returns (Side) {
        return sell ? Side.Sell : Side.Buy;
    }
}
