// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {Calendar} from "./lib/Calendar.sol";
import {Roles} from "./lib/Roles.sol";

/// @title MeterReadings
/// @notice Verifies meter-signed readings and commits them per slot (see IMeterReadings).
contract MeterReadings is EIP712, IMeterReadings {
    bytes32 public constant READING_TYPEHASH =
        keccak256("Reading(bytes32 meterId,uint64 slot,uint64 importWh,uint64 exportWh,uint64 sequence)");
    /// @notice Largest import or export of one reading (Wh); 2**40 Wh is far beyond any connection.
    uint64 public constant MAX_READING_WH = (1 << 40) - 1;

    /// @dev Readings accepted so far for a slot: their number and running hash.
    struct SlotRecord {
        bytes32 readingsHash;
        uint64 count;
    }

    ICommunity public immutable community;
    uint64 private immutable _genesis;
    uint64 private immutable _slotSeconds;

    /// @notice The imbalance settlement allowed to close slots (bound once by the admin).
    address public imbalance;
    /// @inheritdoc IMeterReadings
    uint64 public openFromSlot;

    mapping(uint64 slot => SlotRecord) private _slots;
    /// @dev Per meter: (last slot + 1) << 64 | last sequence; 0 if the meter never reported.
    mapping(bytes32 meterId => uint256) private _last;

    /// @param community_ The community (meters and their signers, calendar, roles).
    constructor(ICommunity community_) EIP712("gridshare MeterReadings", "1") {
        community = community_;
        _genesis = community_.genesis();
        _slotSeconds = community_.slotSeconds();
        openFromSlot = community_.currentSlot();
    }

    /// @notice Bind the imbalance settlement (once). Only the community admin.
    function bindImbalance(address imbalance_) external {
        if (!community.hasRole(Roles.ADMIN, msg.sender)) revert MeterReadingsNotAdmin(msg.sender);
        if (imbalance != address(0)) revert MeterReadingsImbalanceBound(imbalance);
        imbalance = imbalance_;
        emit ImbalanceBound(imbalance_);
    }

    /// @inheritdoc IMeterReadings
    function submitReadings(Reading[] calldata readings, bytes[] calldata signatures) external {
        if (!community.hasRole(Roles.ORACLE, msg.sender)) revert MeterReadingsNotOracle(msg.sender);
        uint256 n = readings.length;
        if (signatures.length != n) revert MeterReadingsLengthMismatch(n, signatures.length);
        uint64 openFrom = openFromSlot;
        // The batch's slots are folded in memory and written once per run of equal slots.
        uint64 slot = 0;
        SlotRecord memory rec = SlotRecord(bytes32(0), 0);
        for (uint256 i; i < n; ++i) {
            Reading calldata r = readings[i];
            address member = _verify(i, r, signatures[i], openFrom);
            if (i == 0 || r.slot != slot) {
                if (i != 0) _slots[slot] = rec;
                slot = r.slot;
                rec = _slots[slot];
            }
            uint256 word = uint160(member) | (uint256(r.importWh) << 160) | (uint256(r.exportWh) << 208);
            rec.readingsHash = keccak256(abi.encodePacked(rec.readingsHash, word));
            rec.count += 1;
            emit ReadingAccepted(r.meterId, r.slot, member, r.importWh, r.exportWh, r.sequence);
        }
        if (n != 0) _slots[slot] = rec;
    }

    /// @inheritdoc IMeterReadings
    function closeSlot(uint64 slot) external returns (uint256 count, bytes32 readingsHash) {
        if (msg.sender != imbalance) revert MeterReadingsNotImbalance(msg.sender);
        // The imbalance settlement closes slots strictly in order, so this only moves forward.
        openFromSlot = slot + 1;
        SlotRecord storage rec = _slots[slot];
        (count, readingsHash) = (rec.count, rec.readingsHash);
        emit SlotReadingsClosed(slot, count, readingsHash);
    }

    /// @inheritdoc IMeterReadings
    function slotReadings(uint64 slot) external view returns (uint256 count, bytes32 readingsHash) {
        SlotRecord storage rec = _slots[slot];
        return (rec.count, rec.readingsHash);
    }

    /// @inheritdoc IMeterReadings
    function lastReading(bytes32 meterId) external view returns (bool any, uint64 slot, uint64 sequence) {
        uint256 last = _last[meterId];
        if (last == 0) return (false, 0, 0);
        return (true, uint64(last >> 64) - 1, uint64(last));
    }

    /// @inheritdoc IMeterReadings
    function readingDigest(Reading calldata r) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(READING_TYPEHASH, r.meterId, r.slot, r.importWh, r.exportWh, r.sequence))
        );
    }

    /// @notice The EIP-712 domain separator meters sign under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Check one reading and record it as its meter's last; returns the meter's member.
    function _verify(uint256 i, Reading calldata r, bytes calldata signature, uint64 openFrom)
        private
        returns (address member)
    {
        address signer;
        (member, signer) = community.meter(r.meterId);
        if (member == address(0)) revert MeterReadingsUnknownMeter(i, r.meterId);
        // A failed recovery yields address(0), which never matches a registered signer.
        // slither-disable-next-line unused-return
        (address recovered,,) = ECDSA.tryRecover(readingDigest(r), signature);
        if (recovered != signer) revert MeterReadingsBadSignature(i, r.meterId, recovered);
        uint256 deliveredAt = Calendar.slotStart(_genesis, _slotSeconds, r.slot + 1);
        if (block.timestamp < deliveredAt) revert MeterReadingsNotDelivered(i, r.slot, deliveredAt);
        if (r.slot < openFrom) revert MeterReadingsSlotClosed(i, r.slot);
        if (r.importWh > MAX_READING_WH || r.exportWh > MAX_READING_WH) {
            revert MeterReadingsEnergyTooLarge(i, r.importWh, r.exportWh);
        }
        uint256 last = _last[r.meterId];
        if (last != 0) {
            uint64 lastSlot = uint64(last >> 64) - 1;
            if (r.slot == lastSlot) revert MeterReadingsDuplicate(i, r.meterId, r.slot);
            if (r.slot < lastSlot) revert MeterReadingsOutOfOrder(i, r.meterId, r.slot, lastSlot);
            if (r.sequence <= uint64(last)) {
                revert MeterReadingsSequenceNotIncreasing(i, r.meterId, uint64(last), r.sequence);
            }
        }
        _last[r.meterId] = (uint256(r.slot) + 1) << 64 | r.sequence;
    }
}
