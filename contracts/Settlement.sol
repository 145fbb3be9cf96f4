// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ISettlement} from "./interfaces/ISettlement.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IOrderBook} from "./interfaces/IOrderBook.sol";
import {Mode, Tariff} from "./lib/MarketTypes.sol";
import {OrderWord} from "./lib/OrderWord.sol";
import {ClearingCheck} from "./lib/ClearingCheck.sol";
import {Roles} from "./lib/Roles.sol";

/// @title Settlement
/// @notice Verifies each slot's clearing on-chain and pays it out of the slot's escrow (see ISettlement).
/// Per filled order of `q` Wh at trade price `p` (market-rules.md, "Fees and tariffs"):
///   buyer pays   p*q + (tradeFeeBuy + p2pGridFee)*q  from its escrow; the rest is refunded;
///   seller gets  p*q − tradeFeeSell*q;
///   the DSO fee account gets the trade fees, its network account the p2p grid fee.
contract Settlement is ISettlement {
    using OrderWord for uint256;

    /// @dev One storage word per slot.
    struct Clearing {
        bool settled;
        Mode mode;
        uint64 price;
        uint64 volumeWh;
        uint112 platformFees;
    }

    /// @dev Transfers out of a slot's escrow (`uint160(to) | amount << 160`), and the slot's totals.
    struct Payout {
        uint256[] transfers;
        uint256 tradeValue;
        uint256 platformFees;
        uint256 networkFees;
    }

    ICommunity public immutable community;
    IOrderBook public immutable orderBook;

    mapping(uint64 slot => Clearing) private _clearings;
    mapping(uint64 slot => bytes32) private _tradesHash;

    constructor(ICommunity community_, IOrderBook orderBook_) {
        community = community_;
        orderBook = orderBook_;
    }

    /// @inheritdoc ISettlement
    function settleSlot(uint64 slot, Mode mode, uint256 price, uint256[] calldata fills, uint256[] calldata pairs)
        external
    {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert SettlementNotMatcher(msg.sender);
        if (_clearings[slot].settled) revert SettlementAlreadySettled(slot);
        Tariff memory t = community.tariffAt(slot);
        if (mode != t.mode) revert SettlementModeMismatch(slot, t.mode, mode);
        uint256[] memory book = orderBook.slotBook(slot);
        if (fills.length != book.length) revert SettlementFillsLength(book.length, fills.length);

        (uint256 volume, uint256[] memory sellValue) = _verify(book, fills, pairs, mode, price, t.communityPrice);
        // Prices < 2**40; volume <= 2000 orders * 2**40 Wh; fees < 2000 * 2**80: the casts are exact.
        Clearing memory c = Clearing(true, mode, uint64(price), uint64(volume), 0);
        Payout memory pay = _payouts(book, fills, c, sellValue, t);
        c.platformFees = uint112(pay.platformFees);
        _clearings[slot] = c;
        _tradesHash[slot] = _tradesHashOf(book, fills);
        _emitSettled(slot, c, pay, fills, pairs);
        orderBook.closeSlot(slot, pay.transfers);
    }

    /// @inheritdoc ISettlement
    function clearingOf(uint64 slot) external view returns (bool settled, Mode mode, uint256 price, uint256 volumeWh) {
        Clearing storage c = _clearings[slot];
        return (c.settled, c.mode, c.price, c.volumeWh);
    }

    /// @inheritdoc ISettlement
    function tradesOf(uint64 slot) external view returns (bytes32 tradesHash, uint256 platformFees) {
        return (_tradesHash[slot], _clearings[slot].platformFees);
    }

    /// @dev keccak256 of the packed trade words of the filled orders, in book order.
    function _tradesHashOf(uint256[] memory book, uint256[] calldata fills) private pure returns (bytes32 h) {
        uint256[] memory trades = new uint256[](book.length);
        uint256 count;
        for (uint256 i; i < book.length; ++i) {
            if (fills[i] != 0) trades[count++] = _tradeWord(book[i], fills[i]);
        }
        assembly ("memory-safe") {
            h := keccak256(add(trades, 32), mul(count, 32))
        }
    }

    /// @dev Re-check the submitted clearing with the rulebook; returns the volume and, in pay-as-bid
    /// mode, each sell entry's traded value.
    function _verify(
        uint256[] memory book,
        uint256[] calldata fills,
        uint256[] calldata pairs,
        Mode mode,
        uint256 price,
        uint256 communityPrice
    ) private pure returns (uint256 volume, uint256[] memory sellValue) {
        if (mode != Mode.PayAsBid && pairs.length != 0) revert SettlementPairInvalid(0, 5);
        if (mode == Mode.Community) {
            if (price != communityPrice) revert SettlementClearingPrice(communityPrice, price);
            return (ClearingCheck.checkCommunity(book, fills, price), sellValue);
        }
        volume = ClearingCheck.checkWalk(book, fills, mode == Mode.Uniform, price);
        if (mode == Mode.PayAsBid) sellValue = ClearingCheck.checkPairs(book, fills, pairs);
    }

    function _emitSettled(
        uint64 slot,
        Clearing memory c,
        Payout memory pay,
        uint256[] calldata fills,
        uint256[] calldata pairs
    ) private {
        emit SlotSettled(
            slot, c.mode, c.price, c.volumeWh, pay.tradeValue, pay.platformFees, pay.networkFees, fills, pairs
        );
    }

    /// @dev What each order's owner and the DSO's two accounts receive out of the slot's escrow.
    function _payouts(
        uint256[] memory book,
        uint256[] calldata fills,
        Clearing memory c,
        uint256[] memory sellValue,
        Tariff memory t
    ) private view returns (Payout memory pay) {
        uint256 n = book.length;
        uint256[] memory transfers = new uint256[](n + 2);
        uint256 count;
        uint256 buyerValue;
        // Unchecked: prices and fees are < 2**40 and fills <= energy < 2**40, so no product or sum
        // over a slot's orders comes near 2**256; the verified clearing keeps every trade within
        // its limit (no subtraction underflows), and OrderBook.closeSlot's exact escrow equality
        // would reject the payouts if one ever did.
        unchecked {
            for (uint256 i; i < n; ++i) {
                uint256 w = book[i];
                if (w.isCancelled()) continue; // its escrow left with the cancellation
                uint256 f = fills[i];
                uint256 amount;
                if (w.isSell()) {
                    uint256 value = c.mode == Mode.PayAsBid ? sellValue[i] : c.price * f;
                    pay.tradeValue += value;
                    pay.platformFees += t.tradeFeeSell * f;
                    amount = value - t.tradeFeeSell * f;
                } else {
                    amount = _buyerRefund(w, f, c, t);
                    buyerValue += (c.mode == Mode.PayAsBid ? w.price() : c.price) * f;
                    pay.platformFees += t.tradeFeeBuy * f;
                    pay.networkFees += t.p2pGridFee * f;
                }
                if (amount != 0) transfers[count++] = uint160(w) | (amount << 160);
            }
        }
        // Both sides of every fill carry the same value: what buyers pay, sellers receive.
        assert(buyerValue == pay.tradeValue);
        if (pay.platformFees != 0) {
            transfers[count++] = uint160(community.feeAccount()) | (pay.platformFees << 160);
        }
        if (pay.networkFees != 0) {
            transfers[count++] = uint160(community.networkAccount()) | (pay.networkFees << 160);
        }
        assembly ("memory-safe") {
            mstore(transfers, count)
        }
        pay.transfers = transfers;
    }

    /// @dev A filled order as the imbalance settlement needs it (see ISettlement.tradesOf).
    function _tradeWord(uint256 w, uint256 f) private pure returns (uint256) {
        return uint160(w.owner()) | (f << 160) | (w.isSell() ? 1 << 255 : 0);
    }

    /// @dev A buy order's unused escrow: escrow − (trade price + buy fees) × filled. Unchecked for
    /// the reasons given in `_payouts` (a verified fill never trades above its limit).
    function _buyerRefund(uint256 w, uint256 f, Clearing memory c, Tariff memory t) private pure returns (uint256) {
        unchecked {
            uint256 limit = w.price();
            uint256 buyRate = uint256(t.tradeFeeBuy) + t.p2pGridFee;
            uint256 tradePrice = c.mode == Mode.PayAsBid ? limit : c.price;
            return w.energy() * (limit + buyRate) - (tradePrice + buyRate) * f;
        }
    }
}
