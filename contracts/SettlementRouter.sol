// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ISettlementRouter} from "./interfaces/ISettlementRouter.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IImbalanceSettlement} from "./interfaces/IImbalanceSettlement.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {Mode} from "./lib/MarketTypes.sol";
import {Roles} from "./lib/Roles.sol";

/// @title SettlementRouter
/// @notice A slot's trade settlement and a batch of settlements against the meters in one
/// transaction (see ISettlementRouter). Holds no state and no tokens.
contract SettlementRouter is ISettlementRouter {
    ICommunity public immutable community;
    ISettlement public immutable settlement;
    IImbalanceSettlement public immutable imbalance;

    constructor(ICommunity community_, ISettlement settlement_, IImbalanceSettlement imbalance_) {
        community = community_;
        settlement = settlement_;
        imbalance = imbalance_;
    }

    /// @inheritdoc ISettlementRouter
    function settleSlotAndImbalances(
        uint64 slot,
        Mode mode,
        uint256 price,
        ISettlement.IntentBatch calldata batch,
        uint256[] calldata fills,
        uint256[] calldata pairs,
        IImbalanceSettlement.ImbalanceEntry[] calldata entries
    ) external {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert SettlementRouterNotMatcher(msg.sender);
        settlement.settleSlot(slot, mode, price, batch, fills, pairs);
        if (entries.length != 0) imbalance.settleImbalances(entries);
    }
}
