// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Side} from "./MarketTypes.sol";

/// @title OrderWord
/// @notice An order packed into one storage word, so that settlement reads each order with a single
/// cold SLOAD. Layout (bit 0 = least significant):
///   [0, 160)   owner
///   [160, 200) energy in Wh (uint40)
///   [200, 240) limit price in n€/Wh (uint40)
///   240        side (0 = buy, 1 = sell)
///   241        cancelled
library OrderWord {
    uint256 internal constant MAX_ENERGY = type(uint40).max;
    uint256 internal constant MAX_PRICE = type(uint40).max;
    uint256 private constant SIDE_BIT = 1 << 240;
    uint256 private constant CANCELLED_BIT = 1 << 241;

    /// @dev Callers keep energyWh <= MAX_ENERGY and limitPrice <= MAX_PRICE.
    function pack(address account, Side orderSide, uint256 energyWh, uint256 limitPrice)
        internal
        pure
        returns (uint256 w)
    {
        w = uint256(uint160(account)) | (energyWh << 160) | (limitPrice << 200);
        if (orderSide == Side.Sell) w |= SIDE_BIT;
    }

    function owner(uint256 w) internal pure returns (address) {
        return address(uint160(w));
    }

    function energy(uint256 w) internal pure returns (uint256) {
        return (w >> 160) & MAX_ENERGY;
    }

    function price(uint256 w) internal pure returns (uint256) {
        return (w >> 200) & MAX_PRICE;
    }

    function isSell(uint256 w) internal pure returns (bool) {
        return w & SIDE_BIT != 0;
    }

    function side(uint256 w) internal pure returns (Side) {
        return isSell(w) ? Side.Sell : Side.Buy;
    }

    function isCancelled(uint256 w) internal pure returns (bool) {
        return w & CANCELLED_BIT != 0;
    }

    function cancelled(uint256 w) internal pure returns (uint256) {
        return w | CANCELLED_BIT;
    }
}
