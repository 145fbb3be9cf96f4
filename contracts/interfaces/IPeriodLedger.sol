// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Per-period settlement ledger
/// @notice What ProfitSharing's period close reads from the contract that settles slots against the
/// meters (ImbalanceSettlement in the trading modes, SharingSettlement in the `sharing` mode).
interface IPeriodLedger {
    /// @notice The next slot to settle in every chunk; every slot before it is settled for every member.
    function nextSlot() external view returns (uint64);

    /// @notice Slots per profit-sharing period (period p = slots [p·periodSlots, (p+1)·periodSlots)).
    function periodSlots() external view returns (uint64);

    /// @notice Wh `member` exported (metered) in `period`: the readings' count (IMeterReadings.exportOf),
    /// what the period's slots settle once every one of them is settled.
    function exportOf(uint64 period, address member) external view returns (uint256);

    /// @notice Platform fees (n€) of the settled slots of `period`.
    function platformFeesOf(uint64 period) external view returns (uint256);

    /// @notice Wh all members together exported (metered) in `period`: the sum of `exportOf(period, ·)`,
    /// kept as it grows so that closing a period needs no pass over every member.
    function totalExportOf(uint64 period) external view returns (uint256);
}
