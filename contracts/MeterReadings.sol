// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {CommunityClock} from "./base/CommunityClock.sol";
import {HashChain} from "./lib/HashChain.sol";
import {Roles} from "./lib/Roles.sol";

/// @title MeterReadings
/// @notice Verifies meter-signed readings and commits them per slot (see IMeterReadings).
contract MeterReadings is EIP712, CommunityClock, IMeterReadings {
    bytes32 public constant READING_TYPEHASH =
        keccak256("Reading(bytes32 meterId,uint64 slot,uint64 importWh,uint64 exportWh,uint64 sequence)");
    bytes32 public constant READING_SPAN_TYPEHASH =
        keccak256("ReadingSpan(bytes32 meterId,uint64 firstSlot,uint64 firstSequence,uint256[] readings)");
    /// @notice Largest import or export of one reading (Wh); 2**40 Wh is far beyond any connection.
    uint64 public constant MAX_READING_WH = (1 << 40) - 1;

    /// @dev Readings accepted so far for a slot, or for one chunk's members in a slot: their number
    /// and running hash (and, for a chunk, whether its imbalance has closed it).
    struct SlotRecord {
        bytes32 readingsHash;
        uint64 count;
        bool closed;
    }

    /// @dev A batch's fold into the records: those of the slot and of the (slot, chunk) being
    /// extended, written back once per run of readings of that slot (and chunk). `whole`: the
    /// slot's record is stored apart from chunk 0's (see `_slots`).
    struct Fold {
        uint64 slot;
        uint32 chunk;
        bool open;
        bool whole;
        SlotRecord rec;
        SlotRecord chunkRec;
    }

    /// @dev What a reading needs to know of its meter.
    struct MeterOf {
        address member;
        uint32 chunk;
        uint64 fromSlot;
    }

    ICommunity public immutable community;

    /// @notice The imbalance settlement allowed to close slots (bound once by the admin).
    address public imbalance;
    /// @dev Whether any slot's record was ever stored apart (`_slots`), packed beside `imbalance`.
    /// Until then `_slotRecord` takes chunk 0's record without reading `_slots`: an unwritten word
    /// read costs a chain no state, but a development node (anvil) keeps it, and every later
    /// block pays for it (docs/benchmarks.md, "anvil").
    bool private _storedApart;
    /// @inheritdoc IMeterReadings
    uint64 public immutable openFromSlot;
    /// @inheritdoc IMeterReadings
    uint64 public immutable periodSlots;
    /// @inheritdoc IMeterReadings
    mapping(uint64 period => mapping(address member => uint256)) public exportOf;
    /// @inheritdoc IMeterReadings
    mapping(uint64 period => uint256) public totalExportOf;

    /// @dev The slot's record, over every chunk's readings in acceptance order: stored only once a
    /// reading of a chunk other than 0 came in. Until then every reading was chunk 0's, so the
    /// slot's record is chunk 0's (count 0 here means: read chunk 0's), and a community of one
    /// chunk writes two words a slot fewer (gas, and a state that grows less with the slots).
    mapping(uint64 slot => SlotRecord) private _slots;
    mapping(uint64 slot => mapping(uint32 chunk => SlotRecord)) private _chunks;
    /// @dev Per meter: (last slot + 1) << 64 | last sequence; 0 if the meter never reported.
    mapping(bytes32 meterId => uint256) private _last;

    /// @param community_ The community (meters and their signers, calendar, roles).
    /// @param periodSlots_ Slots per profit-sharing period.
    constructor(ICommunity community_, uint64 periodSlots_)
        EIP712("gridshare MeterReadings", "1")
        CommunityClock(community_)
    {
        if (periodSlots_ == 0) revert MeterReadingsInvalidPeriod(periodSlots_);
        community = community_;
        openFromSlot = community_.currentSlot();
        periodSlots = periodSlots_;
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
        uint256 n = readings.length;
        Fold memory f = _begin(n, signatures.length);
        for (uint256 i; i < n; ++i) {
            Reading calldata r = readings[i];
            MeterOf memory m = _signedBy(i, r.meterId, readingDigest(r), signatures[i]);
            _accept(f, i, m, r);
        }
        _flush(f);
    }

    /// @inheritdoc IMeterReadings
    function submitReadingSpans(ReadingSpan[] calldata spans, bytes[] calldata signatures) external {
        uint256 n = spans.length;
        Fold memory f = _begin(n, signatures.length);
        // First each span as a whole: its signature, its meter, and its place after the meter's
        // last reading (a span's own slots and sequences follow one another by construction).
        MeterOf[] memory meters = new MeterOf[](n);
        uint256 longest = 0;
        for (uint256 i; i < n; ++i) {
            ReadingSpan calldata span = spans[i];
            uint256 count = span.readings.length;
            if (count == 0) revert MeterReadingsSpanMalformed(i);
            if (count > longest) longest = count;
            meters[i] = _signedBy(i, span.meterId, spanDigest(span), signatures[i]);
            _checkSpan(i, meters[i], span, count);
            emit ReadingSpanAccepted(
                span.meterId, meters[i].member, span.firstSlot, span.firstSequence, span.readings
            );
        }
        // Then the readings slot by slot (reading k of every span before reading k + 1 of any), so
        // that a batch of spans over the same slots writes each slot's records once, not once per
        // reading. Each meter's readings still arrive in slot order.
        for (uint256 k; k < longest; ++k) {
            for (uint256 i; i < n; ++i) {
                ReadingSpan calldata span = spans[i];
                if (k >= span.readings.length) continue;
                uint256 w = span.readings[k];
                if (w >> 128 != 0) revert MeterReadingsSpanMalformed(i);
                // A span of 2**64 slots cannot be submitted, so the additions cannot wrap.
                _commit(f, i, meters[i], span.firstSlot + uint64(k), uint64(w >> 64), uint64(w));
            }
        }
        _flush(f);
    }

    /// @inheritdoc IMeterReadings
    function closeSlot(uint64 slot, uint32 chunk) external returns (uint256 count, bytes32 readingsHash) {
        if (msg.sender != imbalance) revert MeterReadingsNotImbalance(msg.sender);
        SlotRecord storage rec = _chunks[slot][chunk];
        rec.closed = true;
        (count, readingsHash) = (rec.count, rec.readingsHash);
        emit SlotReadingsClosed(slot, chunk, count, readingsHash);
    }

    /// @inheritdoc IMeterReadings
    function chunkReadings(uint64 slot, uint32 chunk)
        external
        view
        returns (uint256 count, bytes32 readingsHash, bool closed)
    {
        SlotRecord storage rec = _chunks[slot][chunk];
        return (rec.count, rec.readingsHash, rec.closed);
    }

    /// @inheritdoc IMeterReadings
    function slotReadings(uint64 slot) external view returns (uint256 count, bytes32 readingsHash) {
        (SlotRecord memory rec,) = _slotRecord(slot);
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

    /// @inheritdoc IMeterReadings
    function spanDigest(ReadingSpan calldata span) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    READING_SPAN_TYPEHASH,
                    span.meterId,
                    span.firstSlot,
                    span.firstSequence,
                    keccak256(abi.encodePacked(span.readings))
                )
            )
        );
    }

    /// @notice The EIP-712 domain separator meters sign under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev A batch's common checks (the oracle role, one signature per item) and its empty fold.
    function _begin(uint256 n, uint256 signatures) private view returns (Fold memory) {
        if (!community.hasRole(Roles.ORACLE, msg.sender)) revert MeterReadingsNotOracle(msg.sender);
        if (signatures != n) revert MeterReadingsLengthMismatch(n, signatures);
        return Fold(0, 0, false, false, SlotRecord(bytes32(0), 0, false), SlotRecord(bytes32(0), 0, false));
    }

    /// @dev The slot's record (see `_slots`) as a copy in memory, and whether it is stored apart;
    /// if not, chunk 0's count and hash.
    function _slotRecord(uint64 slot) private view returns (SlotRecord memory rec, bool stored) {
        if (_storedApart) {
            rec = _slots[slot];
            stored = rec.count != 0;
        }
        if (!stored) {
            SlotRecord storage first = _chunks[slot][0];
            rec = SlotRecord(first.readingsHash, first.count, false);
        }
    }

    /// @dev Write back the fold's open records (at the end of a batch).
    function _flush(Fold memory f) private {
        if (!f.open) return;
        if (f.whole) {
            _slots[f.slot] = f.rec;
            if (!_storedApart) _storedApart = true;
        }
        _chunks[f.slot][f.chunk] = f.chunkRec;
    }

    /// @dev The member and chunk of meter `meterId`, whose registered signer must have signed `digest`.
    function _signedBy(uint256 i, bytes32 meterId, bytes32 digest, bytes calldata signature)
        private
        view
        returns (MeterOf memory m)
    {
        address signer;
        (m.member, signer, m.chunk, m.fromSlot) = community.meter(meterId);
        if (m.member == address(0)) revert MeterReadingsUnknownMeter(i, meterId);
        // A failed recovery yields address(0), which never matches a registered signer.
        // slither-disable-next-line unused-return
        (address recovered,,) = ECDSA.tryRecover(digest, signature);
        if (recovered != signer) revert MeterReadingsBadSignature(i, meterId, recovered);
    }

    /// @dev Check one signed reading, record it as its meter's last and commit it.
    function _accept(Fold memory f, uint256 i, MeterOf memory m, Reading calldata r) private {
        _checkDelivered(i, r.slot, r.slot);
        _checkOpen(i, m, r.slot);
        _commit(f, i, m, r.slot, r.importWh, r.exportWh);
        _follow(i, r.meterId, r.slot, r.sequence);
        _last[r.meterId] = (uint256(r.slot) + 1) << 64 | r.sequence;
        emit ReadingAccepted(r.meterId, r.slot, m.member, r.importWh, r.exportWh, r.sequence);
    }

    /// @dev A span's checks as a whole, which each of its readings would pass or fail alike: its
    /// slots delivered (the error names the first that is not), open (a chunk's slots close in
    /// order, so its first slot tells), and after its meter's last reading; records its last
    /// reading as the meter's last.
    function _checkSpan(uint256 i, MeterOf memory m, ReadingSpan calldata span, uint256 count) private {
        uint64 first = span.firstSlot;
        // A span of 2**64 slots cannot be submitted, so the additions cannot wrap.
        uint64 last = first + uint64(count - 1);
        _checkDelivered(i, first, last);
        _checkOpen(i, m, first);
        if (_chunks[first][m.chunk].closed) revert MeterReadingsSlotClosed(i, first);
        _follow(i, span.meterId, first, span.firstSequence);
        _last[span.meterId] = (uint256(last) + 1) << 64 | (span.firstSequence + uint64(count - 1));
    }

    /// @dev Slots `first`..`last` must all be delivered; the error names the first that is not.
    function _checkDelivered(uint256 i, uint64 first, uint64 last) private view {
        if (block.timestamp >= _slotStart(last + 1)) return;
        uint64 slot = first;
        uint256 deliveredAt = _slotStart(slot + 1);
        while (block.timestamp >= deliveredAt) {
            ++slot;
            deliveredAt = _slotStart(slot + 1);
        }
        revert MeterReadingsNotDelivered(i, slot, deliveredAt);
    }

    /// @dev `slot` must take readings: at or after the deployment's slot and the meter's chunk's.
    function _checkOpen(uint256 i, MeterOf memory m, uint64 slot) private view {
        if (slot < openFromSlot || slot < m.fromSlot) revert MeterReadingsSlotClosed(i, slot);
    }

    /// @dev A reading of `slot` with `sequence` must come after its meter's last reading.
    function _follow(uint256 i, bytes32 meterId, uint64 slot, uint64 sequence) private view {
        uint256 last = _last[meterId];
        if (last == 0) return;
        uint64 lastSlot = uint64(last >> 64) - 1;
        if (slot == lastSlot) revert MeterReadingsDuplicate(i, meterId, slot);
        if (slot < lastSlot) revert MeterReadingsOutOfOrder(i, meterId, slot, lastSlot);
        if (sequence <= uint64(last)) revert MeterReadingsSequenceNotIncreasing(i, meterId, uint64(last), sequence);
    }

    /// @dev Fold a checked reading into its slot's and its (slot, chunk)'s commitments (the records
    /// in `f` are written back when the slot or chunk changes, and by the caller at the end). The
    /// caller announces it (ReadingAccepted for a single reading, ReadingSpanAccepted for a span).
    function _commit(Fold memory f, uint256 i, MeterOf memory m, uint64 slot, uint64 importWh, uint64 exportWh)
        private
    {
        if (importWh > MAX_READING_WH || exportWh > MAX_READING_WH) {
            revert MeterReadingsEnergyTooLarge(i, importWh, exportWh);
        }
        if (!f.open || slot != f.slot) {
            _flush(f);
            f.slot = slot;
            f.chunk = m.chunk;
            f.open = true;
            f.chunkRec = _chunks[slot][m.chunk];
            (f.rec, f.whole) = _slotRecord(slot);
        } else if (m.chunk != f.chunk) {
            _chunks[slot][f.chunk] = f.chunkRec;
            f.chunk = m.chunk;
            f.chunkRec = _chunks[slot][m.chunk];
        }
        if (f.chunkRec.closed) revert MeterReadingsSlotClosed(i, slot);
        if (m.chunk != 0) f.whole = true;
        uint256 word = uint160(m.member) | (uint256(importWh) << 160) | (uint256(exportWh) << 208);
        f.rec.readingsHash = HashChain.link(f.rec.readingsHash, word);
        f.rec.count += 1;
        f.chunkRec.readingsHash = HashChain.link(f.chunkRec.readingsHash, word);
        f.chunkRec.count += 1;
        if (exportWh != 0) {
            // Counted here, once per reading, rather than per member and slot when settled: a
            // span's later readings find both words warm.
            uint64 period = slot / periodSlots;
            exportOf[period][m.member] += exportWh;
            totalExportOf[period] += exportWh;
        }
    }
}
