// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Roles
/// @notice The role ids of the community's role registry (`Community`, an AccessControl), in one
/// place for every contract that checks them.
library Roles {
    /// @notice Grants and revokes roles (OpenZeppelin's DEFAULT_ADMIN_ROLE).
    bytes32 internal constant ADMIN = 0x00;
    /// @notice Registers members and meters, schedules tariffs (the DSO's operators).
    bytes32 internal constant DSO = keccak256("DSO_ROLE");
    /// @notice Relays signed meter readings.
    bytes32 internal constant ORACLE = keccak256("ORACLE_ROLE");
    /// @notice Submits slot clearings.
    bytes32 internal constant MATCHER = keccak256("MATCHER_ROLE");
    /// @notice Runs member exits (the Membership contract): cancels a leaving member's open orders
    /// and removes it once its obligations are settled.
    bytes32 internal constant MEMBERSHIP = keccak256("MEMBERSHIP_ROLE");
    /// @notice Moves a member's intent nonce epoch on when it revokes its intents (the Settlement
    /// contract, on the member's own call).
    bytes32 internal constant INTENTS = keccak256("INTENTS_ROLE");
}
