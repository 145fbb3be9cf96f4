// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IProfitSharing} from "./interfaces/IProfitSharing.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IImbalanceSettlement} from "./interfaces/IImbalanceSettlement.sol";
import {MemberRole} from "./lib/MarketTypes.sol";
import {Roles} from "./lib/Roles.sol";

/// @title ProfitSharing
/// @notice Closes periods (see IProfitSharing). Needs the token's MARKET_ROLE (pulls the pool from the
/// fee account) and COLLECTOR_ROLE (service fees).
contract ProfitSharing is IProfitSharing {
    ICommunity public immutable community;
    IEnergyToken public immutable token;
    IImbalanceSettlement public immutable imbalance;
    /// @inheritdoc IProfitSharing
    uint256 public immutable shareBps;

    /// @inheritdoc IProfitSharing
    mapping(uint64 period => bool) public periodClosed;

    /// @param shareBps_ Share of platform-fee income returned to members, in basis points (≤ 10000).
    constructor(ICommunity community_, IEnergyToken token_, IImbalanceSettlement imbalance_, uint256 shareBps_) {
        if (shareBps_ > 10_000) revert ProfitSharingInvalidShare(shareBps_);
        community = community_;
        token = token_;
        imbalance = imbalance_;
        shareBps = shareBps_;
    }

    /// @inheritdoc IProfitSharing
    function closePeriod(uint64 period, address[] calldata members) external {
        if (!community.hasRole(Roles.DSO, msg.sender)) revert ProfitSharingNotDso(msg.sender);
        if (periodClosed[period]) revert ProfitSharingAlreadyClosed(period);
        uint64 next = imbalance.nextSlot();
        uint64 firstSlot = period * imbalance.periodSlots();
        if (next < firstSlot + imbalance.periodSlots()) revert ProfitSharingPeriodOpen(period, next);
        uint256[] memory exports = _exports(period, members);

        periodClosed[period] = true;
        uint256 fees = imbalance.platformFeesOf(period);
        uint256 total = 0;
        for (uint256 i; i < exports.length; ++i) {
            total += exports[i];
        }
        uint256 pool = total == 0 ? 0 : fees * shareBps / 10_000;
        uint256 serviceFee = community.tariffAt(firstSlot).serviceFee;
        uint256[] memory shares = _shares(pool, exports, total);
        emit PeriodClosed(period, fees, pool, total, members.length, serviceFee);

        if (pool != 0) {
            address fee = community.feeAccount();
            uint256 balance = token.balanceOf(fee);
            if (balance < pool) revert ProfitSharingPoolUnderfunded(pool, balance);
            token.marketPull(fee, pool);
            uint256[] memory transfers = new uint256[](members.length);
            for (uint256 i; i < members.length; ++i) {
                transfers[i] = uint160(members[i]) | (shares[i] << 160);
            }
            token.transferBatch(transfers);
        }
        _chargeServiceFee(period, members, exports, shares, serviceFee);
    }

    /// @dev Check the list is exactly the current members and read their exports.
    function _exports(uint64 period, address[] calldata members) private view returns (uint256[] memory exports) {
        uint256 count = community.memberCount();
        if (members.length != count) revert ProfitSharingMembersIncomplete(count, members.length);
        exports = new uint256[](members.length);
        for (uint256 i; i < members.length; ++i) {
            if (i != 0 && members[i] <= members[i - 1]) revert ProfitSharingMembersNotAscending(i);
            if (community.memberRole(members[i]) == MemberRole.None) revert ProfitSharingNotMember(members[i]);
            exports[i] = imbalance.exportOf(period, members[i]);
        }
    }

    /// @dev Pro-rata shares; the flooring leftover (fewer n€ than exporting members) goes one each to
    /// exporting members in list order.
    function _shares(uint256 pool, uint256[] memory exports, uint256 total)
        private
        pure
        returns (uint256[] memory shares)
    {
        shares = new uint256[](exports.length);
        if (pool == 0) return shares;
        uint256 paid = 0;
        for (uint256 i; i < exports.length; ++i) {
            shares[i] = pool * exports[i] / total;
            paid += shares[i];
        }
        uint256 leftover = pool - paid;
        for (uint256 i; leftover != 0; ++i) {
            if (exports[i] == 0) continue;
            shares[i] += 1;
            --leftover;
        }
    }

    function _chargeServiceFee(
        uint64 period,
        address[] calldata members,
        uint256[] memory exports,
        uint256[] memory shares,
        uint256 serviceFee
    ) private {
        address fee = community.feeAccount();
        uint256[] memory charge = new uint256[](1);
        charge[0] = uint160(fee) | (serviceFee << 160);
        for (uint256 i; i < members.length; ++i) {
            uint256 collected = serviceFee == 0 ? 0 : token.collect(members[i], charge);
            emit PeriodBilled(period, members[i], exports[i], shares[i], serviceFee, collected);
        }
    }
}
