// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IMeterLedger} from "../interfaces/IMeterLedger.sol";
import {IPeriodLedger} from "../interfaces/IPeriodLedger.sol";
import {ICommunity} from "../interfaces/ICommunity.sol";
import {IEnergyToken} from "../interfaces/IEnergyToken.sol";
import {IMeterReadings} from "../interfaces/IMeterReadings.sol";
import {CommunityClock} from "./CommunityClock.sol";
import {Tariff} from "../lib/MarketTypes.sol";

/// @title MeterLedger
/// @notice The one home of what both settlements against the meters keep and decide alike (see
/// IMeterLedger): the chunks' cursors (slots in order), when a slot is ready (every meter reported
/// after delivery, or its reading deadline passed), the digest links and the period counters. The
/// contracts built on it revert with their own named errors from what it answers.
abstract contract MeterLedger is CommunityClock, IMeterLedger {
    /// @dev What a slot is settled with against the meters: its period, the tariff in force and the
    /// DSO's accounts (`supply` zero while the community has none: each contract reverts with its
    /// own error).
    struct SlotTerms {
        uint64 slot;
        uint64 period;
        Tariff tariff;
        address supply;
        address network;
        address fee;
    }

    ICommunity public immutable community;
    IEnergyToken public immutable token;
    IMeterReadings public immutable readings;
    /// @inheritdoc IMeterLedger
    uint64 public immutable firstSlot;
    /// @inheritdoc IMeterLedger
    uint64 public immutable readingDeadlineSeconds;
    /// @inheritdoc IPeriodLedger
    uint64 public immutable periodSlots;

    /// @dev Per chunk: its next slot to settle + 1 (0: none settled yet, it starts at its first slot).
    mapping(uint32 chunk => uint64) private _nextPlusOne;
    /// @inheritdoc IMeterLedger
    mapping(uint64 slot => mapping(uint32 chunk => bytes32)) public digestAt;
    /// @inheritdoc IPeriodLedger
    mapping(uint64 period => uint256) public platformFeesOf;

    /// @param readingDeadlineSeconds_ How long after delivery readings may still come in.
    constructor(ICommunity community_, IEnergyToken token_, IMeterReadings readings_, uint64 readingDeadlineSeconds_)
        CommunityClock(community_)
    {
        community = community_;
        token = token_;
        readings = readings_;
        readingDeadlineSeconds = readingDeadlineSeconds_;
        periodSlots = readings_.periodSlots();
        firstSlot = readings_.openFromSlot();
    }

    /// @inheritdoc IPeriodLedger
    /// @dev The readings count it as they are accepted (IMeterReadings.exportOf).
    function exportOf(uint64 period, address member) external view returns (uint256) {
        return readings.exportOf(period, member);
    }

    /// @inheritdoc IPeriodLedger
    function totalExportOf(uint64 period) external view returns (uint256) {
        return readings.totalExportOf(period);
    }

    /// @inheritdoc IMeterLedger
    function nextSlotOf(uint32 chunk) public view returns (uint64) {
        uint64 stored = _nextPlusOne[chunk];
        if (stored != 0) return stored - 1;
        uint64 from = community.chunkFromSlot(chunk); // reverts for a chunk not opened
        return from > firstSlot ? from : firstSlot;
    }

    /// @inheritdoc IPeriodLedger
    function nextSlot() external view returns (uint64 next) {
        uint32 chunks = community.chunkCount();
        if (chunks == 0) return firstSlot;
        next = type(uint64).max;
        for (uint32 c; c < chunks; ++c) {
            uint64 n = nextSlotOf(c);
            if (n < next) next = n;
        }
    }

    /// @dev `slot`'s terms as the community has them now (the tariff: the one in force at `slot`).
    function _slotTerms(uint64 slot) internal view returns (SlotTerms memory) {
        return SlotTerms(
            slot,
            slot / periodSlots,
            community.tariffAt(slot),
            community.supplyAccount(),
            community.networkAccount(),
            community.feeAccount()
        );
    }

    /// @dev Move `chunk`'s cursor past `slot` if `slot` is the chunk's next; returns the chunk's
    /// next slot as it was, so that the caller reverts with its own named error when it is not
    /// `slot` (effects first: a revert undoes the move).
    function _advanceCursor(uint64 slot, uint32 chunk) internal returns (uint64 next) {
        next = nextSlotOf(chunk);
        if (slot == next) _nextPlusOne[chunk] = slot + 2;
    }

    /// @dev Whether `slot` may settle now: its reading deadline has passed, or it is delivered and
    /// every registered meter has reported; and that deadline.
    function _readiness(uint64 slot) internal view returns (bool ready, uint256 deadline) {
        uint256 delivered = _slotStart(slot + 1);
        deadline = delivered + readingDeadlineSeconds;
        if (block.timestamp >= deadline) return (true, deadline);
        if (block.timestamp >= delivered) {
            // slither-disable-next-line unused-return
            (uint256 count,) = readings.slotReadings(slot);
            if (count >= community.meterCount()) return (true, deadline); // every meter reported
        }
        return (false, deadline);
    }
}
