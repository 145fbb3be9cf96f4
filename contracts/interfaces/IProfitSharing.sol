// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Profit sharing and the service fee, once per period, in bounded chunks of members
/// @notice When a period's slots are all settled, the DSO closes it: `shareBps`/10000 of the period's
/// platform-fee income (counted on-chain by the imbalance settlement) is paid from the fee account to
/// the members in proportion to their metered export in the period (also counted on-chain), and each
/// member is charged the period's service fee and, if it leases a share of the community battery,
/// its lease for the period (`setLease`), both to the fee account (debt if the balance falls short).
///
/// The close runs in calls of at most `maxChunk` members each, so no transaction grows with the
/// community: across the calls the members are listed strictly ascending (each call continues after
/// the last member billed), every member is billed exactly once, and the period is closed (the
/// `PeriodClosed` event) when as many members have been billed as the community has.
///
/// Shares: `pool = floor(fees · shareBps / 10000)` (0 if nobody exported) over the period's total
/// export `T` (`totalExportOf`); with `C` the export of the members billed so far (ascending), a
/// member's share is `floor(pool · (C + export) / T) − floor(pool · C / T)`. The shares never differ
/// from the exact proportion by one n€ or more, each call needs only the running `C`, and together
/// they pay exactly `pool` (less the part of members who left during the period, which stays with the
/// fee account).
interface IProfitSharing {
    /// @notice `period` was closed: `pool` of `platformFees` shared over `totalExportWh`, `members`
    /// billed in all. Emitted by the call that billed the last member.
    event PeriodClosed(
        uint64 indexed period, uint256 platformFees, uint256 pool, uint256 totalExportWh, uint256 members, uint256 serviceFee
    );
    /// @notice `member`'s part of the period: its export, profit share received, service fee and
    /// battery lease charged, and how much of the two the balance covered (the rest became debt).
    event PeriodBilled(
        uint64 indexed period,
        address indexed member,
        uint256 exportWh,
        uint256 share,
        uint256 serviceFee,
        uint256 lease,
        uint256 collected
    );
    /// @notice From the next period close on, `member` is charged `perPeriod` (n€) a period for its
    /// share of the community battery (0: no lease).
    event LeaseSet(address indexed member, uint256 perPeriod);

    error ProfitSharingNotDso(address caller);
    error ProfitSharingInvalidShare(uint256 shareBps);
    error ProfitSharingInvalidChunk(uint256 maxChunk);
    /// @notice The period still has slots to settle (the imbalance settlement is at `nextSlot`).
    error ProfitSharingPeriodOpen(uint64 period, uint64 nextSlot);
    error ProfitSharingAlreadyClosed(uint64 period);
    /// @notice A call lists more than `maxChunk` members, or none.
    error ProfitSharingChunkSize(uint256 maxChunk, uint256 listed);
    /// @notice Billing `listed` more members would bill more than the community's `memberCount`.
    error ProfitSharingMembersIncomplete(uint256 memberCount, uint256 listed);
    /// @notice Member `index` of the call is not above the one billed before it.
    error ProfitSharingMembersNotAscending(uint256 index);
    error ProfitSharingNotMember(address account);
    error ProfitSharingPoolUnderfunded(uint256 pool, uint256 balance);
    /// @notice A lease of 2**96 n€ or more a period.
    error ProfitSharingLeaseTooLarge(uint256 perPeriod);

    /// @notice Bill the next chunk of `period`'s members: pay their profit shares and charge the
    /// service fee; the call that bills the last member closes the period. Only the DSO; after all
    /// the period's slots are settled.
    /// @param members Up to `maxChunk` current members, strictly ascending, each above the last
    /// member billed by an earlier call for this period.
    function closePeriod(uint64 period, address[] calldata members) external;

    /// @notice Charge `member` `perPeriod` n€ at every period close from now on, for its lease of a
    /// share of the community battery (0 ends the lease). Only the DSO; `member` must be a member
    /// unless the lease is 0. A close charges the lease in force when it bills the member. A lease
    /// outlives an exit (a member who left is not billed; one who rejoins is, unless it was ended).
    function setLease(address member, uint256 perPeriod) external;

    /// @notice The battery lease `member` is charged each period (n€; 0: none).
    function leaseOf(address member) external view returns (uint256);

    /// @notice Share of platform-fee income distributed, in basis points.
    function shareBps() external view returns (uint256);

    /// @notice Most members one `closePeriod` call bills.
    function maxChunk() external view returns (uint256);

    /// @notice Whether `period` was closed (every member billed).
    function periodClosed(uint64 period) external view returns (bool);

    /// @notice How far the close of `period` has come: members billed, the last of them, and the
    /// export of the members billed so far (Wh).
    function closeProgress(uint64 period) external view returns (uint256 billed, address last, uint256 exportWh);
}
