// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Profit sharing and the service fee, once per period
/// @notice When a period's slots are all settled, the DSO closes it: `shareBps`/10000 of the period's
/// platform-fee income (counted on-chain by the imbalance settlement) is paid from the fee account to
/// the members in proportion to their metered export in the period (also counted on-chain), and each
/// member is charged the period's service fee (debt if the balance falls short).
///
/// Shares: `pool = floor(fees · shareBps / 10000)`, `share = floor(pool · export / totalExport)`;
/// the n€ left over by flooring go one each to exporting members in list (ascending address) order,
/// so the pool is paid out exactly. The member list must be every current member, strictly
/// ascending, so the DSO cannot leave anyone out.
interface IProfitSharing {
    /// @notice `period` was closed: `pool` of `platformFees` shared over `totalExportWh`.
    event PeriodClosed(
        uint64 indexed period, uint256 platformFees, uint256 pool, uint256 totalExportWh, uint256 members, uint256 serviceFee
    );
    /// @notice `member`'s part of the period: its export, profit share received, service fee charged
    /// and how much of it the balance covered (the rest became debt).
    event PeriodBilled(
        uint64 indexed period, address indexed member, uint256 exportWh, uint256 share, uint256 serviceFee, uint256 collected
    );

    error ProfitSharingNotDso(address caller);
    error ProfitSharingInvalidShare(uint256 shareBps);
    /// @notice The period still has slots to settle (the imbalance settlement is at `nextSlot`).
    error ProfitSharingPeriodOpen(uint64 period, uint64 nextSlot);
    error ProfitSharingAlreadyClosed(uint64 period);
    error ProfitSharingMembersIncomplete(uint256 memberCount, uint256 listed);
    error ProfitSharingMembersNotAscending(uint256 index);
    error ProfitSharingNotMember(address account);
    error ProfitSharingPoolUnderfunded(uint256 pool, uint256 balance);

    /// @notice Close `period`: pay profit shares and charge the service fee. Only the DSO; once per
    /// period, after all its slots are settled.
    /// @param members Every current member, strictly ascending.
    function closePeriod(uint64 period, address[] calldata members) external;

    /// @notice Share of platform-fee income distributed, in basis points.
    function shareBps() external view returns (uint256);

    /// @notice Whether `period` was closed.
    function periodClosed(uint64 period) external view returns (bool);
}
