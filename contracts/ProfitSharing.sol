// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IProfitSharing} from "./interfaces/IProfitSharing.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IPeriodLedger} from "./interfaces/IPeriodLedger.sol";
import {MemberRole} from "./lib/MarketTypes.sol";
import {Roles} from "./lib/Roles.sol";

/// @title ProfitSharing
/// @notice Closes periods in chunks of members (see IProfitSharing). Needs the token's MARKET_ROLE
/// (pulls each chunk's shares from the fee account) and COLLECTOR_ROLE (service fees and leases).
contract ProfitSharing is IProfitSharing {
    /// @dev A period's close so far (one storage word): members billed, the last one billed, and
    /// the export of the members billed (the running `C` of the share rule).
    struct Progress {
        address last;
        uint32 billed;
        uint64 exportWh;
    }

    /// @dev What every chunk of a period's close shares.
    struct Terms {
        uint64 period;
        uint256 fees;
        uint256 pool;
        uint256 totalExportWh;
        uint256 serviceFee;
    }

    ICommunity public immutable community;
    IEnergyToken public immutable token;
    /// @notice The ledger of settled slots: ImbalanceSettlement, or SharingSettlement in the sharing mode.
    IPeriodLedger public immutable imbalance;
    /// @inheritdoc IProfitSharing
    uint256 public immutable shareBps;
    /// @inheritdoc IProfitSharing
    uint256 public immutable maxChunk;

    /// @inheritdoc IProfitSharing
    mapping(uint64 period => bool) public periodClosed;
    mapping(uint64 period => Progress) private _progress;
    /// @inheritdoc IProfitSharing
    mapping(address member => uint256) public leaseOf;

    /// @param shareBps_ Share of platform-fee income returned to members, in basis points (≤ 10000).
    /// @param maxChunk_ Most members one close call bills (1..65535).
    constructor(
        ICommunity community_,
        IEnergyToken token_,
        IPeriodLedger imbalance_,
        uint256 shareBps_,
        uint256 maxChunk_
    ) {
        if (shareBps_ > 10_000) revert ProfitSharingInvalidShare(shareBps_);
        if (maxChunk_ == 0 || maxChunk_ > type(uint16).max) revert ProfitSharingInvalidChunk(maxChunk_);
        community = community_;
        token = token_;
        imbalance = imbalance_;
        shareBps = shareBps_;
        maxChunk = maxChunk_;
    }

    /// @inheritdoc IProfitSharing
    function closePeriod(uint64 period, address[] calldata members) external {
        if (!community.hasRole(Roles.DSO, msg.sender)) revert ProfitSharingNotDso(msg.sender);
        if (periodClosed[period]) revert ProfitSharingAlreadyClosed(period);
        uint64 length = imbalance.periodSlots();
        {
            uint64 next = imbalance.nextSlot();
            if (next < (period + 1) * length) revert ProfitSharingPeriodOpen(period, next);
        }
        uint256 count = community.memberCount();
        Progress memory p = _progress[period];
        uint256 n = members.length;
        if (n > maxChunk || (n == 0 && count != 0)) revert ProfitSharingChunkSize(maxChunk, n);
        if (p.billed + n > count) revert ProfitSharingMembersIncomplete(count, p.billed + n);
        Terms memory t = _terms(period, length);

        // Effects first (checks-effects-interactions): the shares, the progress and the close.
        uint256[] memory exports = new uint256[](n);
        uint256[] memory shares = new uint256[](n);
        uint256 paid = _bill(t, p, members, exports, shares);
        _progress[period] = p;
        bool closed = p.billed == count;
        if (closed) periodClosed[period] = true;

        if (paid != 0) _payShares(members, shares, paid);
        _charge(t, members, exports, shares);
        if (closed) emit PeriodClosed(period, t.fees, t.pool, t.totalExportWh, p.billed, t.serviceFee);
    }

    /// @inheritdoc IProfitSharing
    function setLease(address member, uint256 perPeriod) external {
        if (!community.hasRole(Roles.DSO, msg.sender)) revert ProfitSharingNotDso(msg.sender);
        if (perPeriod != 0 && community.memberRole(member) == MemberRole.None) revert ProfitSharingNotMember(member);
        // A charge packs its amount above a 160-bit address (EnergyToken.collect).
        if (perPeriod >> 96 != 0) revert ProfitSharingLeaseTooLarge(perPeriod);
        leaseOf[member] = perPeriod;
        emit LeaseSet(member, perPeriod);
    }

    /// @inheritdoc IProfitSharing
    function closeProgress(uint64 period) external view returns (uint256 billed, address last, uint256 exportWh) {
        Progress storage p = _progress[period];
        return (p.billed, p.last, p.exportWh);
    }

    /// @dev The period's pool, total export and service fee (the same for every chunk: the period is
    /// fully settled, so its counters no longer move).
    function _terms(uint64 period, uint64 length) private view returns (Terms memory t) {
        t.period = period;
        t.fees = imbalance.platformFeesOf(period);
        t.totalExportWh = imbalance.totalExportOf(period);
        t.pool = t.totalExportWh == 0 ? 0 : t.fees * shareBps / 10_000;
        t.serviceFee = community.tariffAt(period * length).serviceFee;
    }

    /// @dev Check the chunk (ascending after the last billed, all members), read each export and
    /// work out each share along the running export `p.exportWh`; returns the chunk's total share.
    /// Exports are below 2**40 per reading, so a period's total stays far below 2**64 and
    /// `pool · export` far below 2**256.
    function _bill(
        Terms memory t,
        Progress memory p,
        address[] calldata members,
        uint256[] memory exports,
        uint256[] memory shares
    ) private view returns (uint256 paid) {
        for (uint256 i; i < members.length; ++i) {
            address member = members[i];
            if (member <= p.last) revert ProfitSharingMembersNotAscending(i);
            if (community.memberRole(member) == MemberRole.None) revert ProfitSharingNotMember(member);
            uint256 x = imbalance.exportOf(t.period, member);
            exports[i] = x;
            if (x != 0 && t.pool != 0) {
                uint256 before = t.pool * p.exportWh / t.totalExportWh;
                shares[i] = t.pool * (p.exportWh + x) / t.totalExportWh - before;
                paid += shares[i];
            }
            p.exportWh += uint64(x);
            p.last = member;
        }
        p.billed += uint32(members.length);
    }

    /// @dev Pull the chunk's shares from the fee account and pay them in one batch.
    function _payShares(address[] calldata members, uint256[] memory shares, uint256 paid) private {
        address fee = community.feeAccount();
        uint256 balance = token.balanceOf(fee);
        if (balance < paid) revert ProfitSharingPoolUnderfunded(paid, balance);
        token.marketPull(fee, paid);
        uint256[] memory transfers = new uint256[](members.length);
        uint256 count;
        for (uint256 i; i < members.length; ++i) {
            if (shares[i] != 0) transfers[count++] = uint160(members[i]) | (shares[i] << 160);
        }
        assembly ("memory-safe") {
            mstore(transfers, count)
        }
        token.transferBatch(transfers);
    }

    /// @dev Charge each member of the chunk the service fee and its lease, if any, to the fee
    /// account in one `collect` (the fee first; what the balance does not cover becomes debt).
    function _charge(
        Terms memory t,
        address[] calldata members,
        uint256[] memory exports,
        uint256[] memory shares
    ) private {
        address fee = community.feeAccount();
        for (uint256 i; i < members.length; ++i) {
            address member = members[i];
            uint256 lease = leaseOf[member];
            uint256[] memory charges = new uint256[]((t.serviceFee != 0 ? 1 : 0) + (lease != 0 ? 1 : 0));
            if (t.serviceFee != 0) charges[0] = uint160(fee) | (t.serviceFee << 160);
            if (lease != 0) charges[charges.length - 1] = uint160(fee) | (lease << 160);
            uint256 collected = charges.length == 0 ? 0 : token.collect(member, charges);
            emit PeriodBilled(t.period, member, exports[i], shares[i], t.serviceFee, lease, collected);
        }
    }
}
