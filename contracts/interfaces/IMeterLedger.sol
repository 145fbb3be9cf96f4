// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IPeriodLedger} from "./IPeriodLedger.sol";

/// @title A settlement against the meters, slot by slot and chunk by chunk
/// @notice What ImbalanceSettlement (the trading modes) and SharingSettlement (`sharing`) have in
/// common: each chunk settles its slots strictly in order from its first slot, each settled
/// (slot, chunk) extends the chunk's audit digest chain, and the billing period's counters grow as
/// slots settle (IPeriodLedger).
interface IMeterLedger is IPeriodLedger {
    /// @notice The first slot this contract settles (the deployment's slot).
    function firstSlot() external view returns (uint64);

    /// @notice Seconds after a slot's delivery until it may settle with readings missing.
    function readingDeadlineSeconds() external view returns (uint64);

    /// @notice The next slot `chunk` settles; its slots before it are settled.
    function nextSlotOf(uint32 chunk) external view returns (uint64);

    /// @notice Digest chain link of a settled (slot, chunk) (zero if not settled).
    function digestAt(uint64 slot, uint32 chunk) external view returns (bytes32);
}
