// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ICommunity} from "../interfaces/ICommunity.sol";
import {Calendar} from "../lib/Calendar.sol";

/// @title CommunityClock
/// @notice The community's calendar (genesis, slot length) read once at deployment into
/// immutables, so that a slot's times cost no call: the one way the contracts built on it tell
/// time (Community itself keeps the calendar and uses Calendar directly).
abstract contract CommunityClock {
    uint64 internal immutable _genesis;
    uint64 internal immutable _slotSeconds;

    constructor(ICommunity community_) {
        _genesis = community_.genesis();
        _slotSeconds = community_.slotSeconds();
    }

    /// @dev Start of delivery of `slot` (Calendar.slotStart).
    function _slotStart(uint64 slot) internal view returns (uint256) {
        return Calendar.slotStart(_genesis, _slotSeconds, slot);
    }

    /// @dev The slot being delivered now (Calendar.slotAt).
    function _currentSlot() internal view returns (uint64) {
        return Calendar.slotAt(_genesis, _slotSeconds, block.timestamp);
    }
}
