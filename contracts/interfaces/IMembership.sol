// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Leaving the community
/// @notice Exit takes two steps (market-rules.md, "Membership"; docs/decisions.md):
/// 1. `requestExit`: the member stops trading; its orders in slots whose gate is still open are
///    cancelled and their escrow returned; the exit penalty is charged if the lock-in has not ended
///    (debt if the balance falls short). It stays bound by the slots whose gates had closed.
/// 2. `completeExit`, once those slots' imbalance is settled: debts are paid from the balance and
///    must then be zero; the member's record is removed and its meters retired. What remains of the
///    balance is the member's, redeemable at any time (EnergyToken.redeem).
interface IMembership {
    event ExitRequested(
        address indexed member,
        uint64 exitSlot,
        uint256 penalty,
        uint256 penaltyCollected,
        uint256 ordersCancelled,
        uint256 escrowReturned
    );
    event ExitCompleted(address indexed member, uint256 balance);

    error MembershipNotMember(address account);
    error MembershipNotExiting(address account);
    /// @notice Slots up to `exitSlot` still await their imbalance settlement (at `nextSlot`).
    error MembershipObligationsPending(address member, uint64 exitSlot, uint64 nextSlot);
    error MembershipDebtOutstanding(address member, uint256 debt);

    /// @notice Start leaving (the caller). See the contract notice.
    function requestExit() external;

    /// @notice Finish `member`'s exit once its last slots are settled and its debt is paid. Anyone.
    function completeExit(address member) external;
}
