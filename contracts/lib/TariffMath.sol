// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Tariff} from "./MarketTypes.sol";

/// @title TariffMath
/// @notice The tariff's formulas, in one place for every contract that prices energy
/// (market-rules.md: "Orders", "Fees", "Settlement against meters", "Business as usual", "Energy
/// sharing"); the Python twins are in market/billing.py and market/sharing.py. Prices are n€/Wh
/// below 2**40 (Community enforces it) and quantities below 2**40 Wh, so no product here overflows.
library TariffMath {
    /// @notice Whether `price` lies within the bounds an order's limit must meet: feed-in <= price <= retail.
    function inBounds(Tariff memory t, uint256 price) internal pure returns (bool) {
        return price >= t.feedInPrice && price <= t.retailPrice;
    }

    /// @notice What a buyer pays per Wh on top of the trade price: the buy fee and the P2P network charge.
    function buyRate(Tariff memory t) internal pure returns (uint256) {
        return uint256(t.tradeFeeBuy) + t.p2pGridFee;
    }

    /// @notice A direct buy order's escrow: its limit times its energy plus the largest fee it can incur.
    function buyEscrow(Tariff memory t, uint256 energyWh, uint256 limitPrice) internal pure returns (uint256) {
        return energyWh * (limitPrice + buyRate(t));
    }

    /// @notice What `wh` drawn from the grid costs: energy at retail (to the supply account) and the
    /// grid fee (to the network account).
    function gridImport(Tariff memory t, uint256 wh) internal pure returns (uint256 energy, uint256 network) {
        energy = wh * t.retailPrice;
        network = wh * t.gridFee;
    }

    /// @notice What `wh` fed into the grid earns: the feed-in price.
    function gridExport(Tariff memory t, uint256 wh) internal pure returns (uint256) {
        return wh * t.feedInPrice;
    }

    /// @notice Business as usual for a metered net export `m` (Wh, negative for a net import):
    /// what the member would have paid (positive) or earned (negative) with no community.
    function bauCost(Tariff memory t, int256 m) internal pure returns (int256) {
        return m >= 0
            ? -(m * int256(uint256(t.feedInPrice)))
            : -m * int256(uint256(t.retailPrice) + t.gridFee);
    }

    /// @notice A sharing consumer's charges for `allocated` Wh from the community and `grid` Wh from
    /// the grid: energy (sharing price, then retail), network (P2P fee, then grid fee), platform fee.
    function sharedImport(Tariff memory t, uint256 allocated, uint256 grid)
        internal
        pure
        returns (uint256 energy, uint256 network, uint256 fee)
    {
        (uint256 gridEnergy, uint256 gridNetwork) = gridImport(t, grid);
        energy = uint256(t.sharingPrice) * allocated + gridEnergy;
        network = uint256(t.p2pGridFee) * allocated + gridNetwork;
        fee = uint256(t.tradeFeeBuy) * allocated;
    }

    /// @notice A sharing producer's pay for `produced` Wh of which `credited` went to the community:
    /// the sharing price less the sell fee on the credited Wh, feed-in on the rest; and that fee.
    function sharedExport(Tariff memory t, uint256 produced, uint256 credited)
        internal
        pure
        returns (uint256 paid, uint256 sellFee)
    {
        sellFee = uint256(t.tradeFeeSell) * credited;
        paid = (uint256(t.sharingPrice) - t.tradeFeeSell) * credited + gridExport(t, produced - credited);
    }
}
