// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Calendar
/// @notice Slot arithmetic shared by every contract: slot `s` is delivered during
/// [genesis + s * slotSeconds, genesis + (s + 1) * slotSeconds) and its order book closes
/// `gateClosureSeconds` before that period starts.
library Calendar {
    /// @notice The slot whose delivery period contains time `t` (0 before genesis).
    function slotAt(uint256 genesis, uint256 slotSeconds, uint256 t) internal pure returns (uint64) {
        return t < genesis ? 0 : uint64((t - genesis) / slotSeconds);
    }

    /// @notice Start of delivery of `slot`.
    function slotStart(uint256 genesis, uint256 slotSeconds, uint64 slot) internal pure returns (uint256) {
        return genesis + uint256(slot) * slotSeconds;
    }

    /// @notice Time at which `slot`'s order book closes (genesis > gateClosureSeconds is enforced).
    function gateClosure(uint256 genesis, uint256 slotSeconds, uint256 gateClosureSeconds, uint64 slot)
        internal
        pure
        returns (uint256)
    {
        return genesis + uint256(slot) * slotSeconds - gateClosureSeconds;
    }

    /// @notice The hour of the day (0..23) in which `slot` starts, counting days from genesis (a
    /// sharing community whose static key follows a schedule is deployed with genesis at a
    /// midnight of its standard-time clock).
    function hourOfDay(uint256 slotSeconds, uint64 slot) internal pure returns (uint256) {
        return (uint256(slot) * slotSeconds / 3600) % 24;
    }
}
