// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IMembership} from "./interfaces/IMembership.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IOrderBook} from "./interfaces/IOrderBook.sol";
import {IImbalanceSettlement} from "./interfaces/IImbalanceSettlement.sol";
import {MemberRole} from "./lib/MarketTypes.sol";

/// @title Membership
/// @notice Member exits (see IMembership). Needs MEMBERSHIP_ROLE in the community and the token's
/// COLLECTOR_ROLE (exit penalty).
contract Membership is IMembership {
    ICommunity public immutable community;
    IEnergyToken public immutable token;
    IOrderBook public immutable orderBook;
    IImbalanceSettlement public immutable imbalance;

    constructor(ICommunity community_, IEnergyToken token_, IOrderBook orderBook_, IImbalanceSettlement imbalance_) {
        community = community_;
        token = token_;
        orderBook = orderBook_;
        imbalance = imbalance_;
    }

    /// @inheritdoc IMembership
    function requestExit() external {
        address member = msg.sender;
        // slither-disable-next-line unused-return
        (MemberRole role,, uint64 lockInUntil, bool exiting,) = community.memberInfo(member);
        if (role == MemberRole.None || exiting) revert MembershipNotMember(member);
        uint256 penalty = community.currentSlot() < lockInUntil ? community.exitPenalty() : 0;
        uint64 exitSlot = community.beginExit(member);
        (uint256 cancelled, uint256 refund) = orderBook.cancelOpenOrders(member);
        uint256 collected = 0;
        if (penalty != 0) {
            uint256[] memory charge = new uint256[](1);
            charge[0] = uint160(community.feeAccount()) | (penalty << 160);
            collected = token.collect(member, charge);
        }
        emit ExitRequested(member, exitSlot, penalty, collected, cancelled, refund);
    }

    /// @inheritdoc IMembership
    function completeExit(address member) external {
        // slither-disable-next-line unused-return
        (,,, bool exiting, uint64 exitSlot) = community.memberInfo(member);
        if (!exiting) revert MembershipNotExiting(member);
        uint64 next = imbalance.nextSlot();
        if (next <= exitSlot) revert MembershipObligationsPending(member, exitSlot, next);
        // What was repaid is not needed: the debt left is read next (triaged: docs/security.md).
        // slither-disable-next-line unused-return
        if (token.debtOf(member) != 0) token.repayDebt(member);
        uint256 debt = token.debtOf(member);
        if (debt != 0) revert MembershipDebtOutstanding(member, debt);
        community.completeExit(member);
        emit ExitCompleted(member, token.balanceOf(member));
    }
}
