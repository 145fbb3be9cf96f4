// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Meter readings signed by the meters
/// @notice The oracle relays readings in batches; each reading is signed by its meter's own key
/// (EIP-712, bound to the chain id and this contract), so the oracle cannot forge, alter or replay
/// one. A batch is all or nothing: the first bad reading reverts the batch with a named error that
/// carries its index, so the relayer can set that reading aside and resend the others unchanged.
///
/// Readings are not stored. Each accepted reading is emitted and folded into two commitments, its
/// slot's and its (slot, chunk)'s, where the chunk is the member's settlement chunk
/// (ICommunity.chunkOf): `readingsHash = keccak256(readingsHash ‖ word)` over the reading words
/// `uint160(member) | importWh << 160 | exportWh << 208` in acceptance order. The imbalance
/// settlement re-supplies one (slot, chunk)'s words and must reproduce its hash; the slot's
/// commitment over every chunk serves the flexibility settlement and the readiness count.
interface IMeterReadings {
    /// @notice One meter's energy in one slot: `importWh` drawn from and `exportWh` fed into the grid.
    /// `sequence` is the meter's own counter and must increase from reading to reading.
    struct Reading {
        bytes32 meterId;
        uint64 slot;
        uint64 importWh;
        uint64 exportWh;
        uint64 sequence;
    }

    /// @notice One meter's readings for consecutive slots, signed once (e.g. a day's): reading `k`
    /// is slot `firstSlot + k` with sequence `firstSequence + k`, and `readings[k]` packs its
    /// energy as `importWh << 64 | exportWh`. Each reading is checked and committed to its slot
    /// exactly as a single `Reading` is; only the signature is shared.
    struct ReadingSpan {
        bytes32 meterId;
        uint64 firstSlot;
        uint64 firstSequence;
        uint256[] readings;
    }

    /// @notice A reading was accepted for `member`'s meter `meterId`.
    event ReadingAccepted(
        bytes32 indexed meterId,
        uint64 indexed slot,
        address indexed member,
        uint64 importWh,
        uint64 exportWh,
        uint64 sequence
    );
    /// @notice A span signed by `member`'s meter `meterId` was accepted: reading `k` is of slot
    /// `firstSlot + k` with sequence `firstSequence + k`, and `readings[k]` is its word as signed
    /// (`importWh << 64 | exportWh`). One event a span, not one a reading: the readings are the
    /// span's own calldata words, so the log costs about 8 gas a byte instead of about 2.7k gas a
    /// reading for three topics and three data words.
    event ReadingSpanAccepted(
        bytes32 indexed meterId, address indexed member, uint64 firstSlot, uint64 firstSequence, uint256[] readings
    );
    /// @notice The imbalance settlement allowed to close slots was bound (once).
    event ImbalanceBound(address imbalance);
    /// @notice `slot` takes no more readings of `chunk`'s members: their imbalance is being settled
    /// from `count` readings.
    event SlotReadingsClosed(uint64 indexed slot, uint32 indexed chunk, uint256 count, bytes32 readingsHash);

    error MeterReadingsNotOracle(address caller);
    error MeterReadingsLengthMismatch(uint256 readings, uint256 signatures);
    error MeterReadingsUnknownMeter(uint256 index, bytes32 meterId);
    error MeterReadingsBadSignature(uint256 index, bytes32 meterId, address signer);
    error MeterReadingsNotDelivered(uint256 index, uint64 slot, uint256 deliveredAt);
    /// @notice The slot's imbalance is already settled: the reading came after the deadline.
    error MeterReadingsSlotClosed(uint256 index, uint64 slot);
    error MeterReadingsDuplicate(uint256 index, bytes32 meterId, uint64 slot);
    error MeterReadingsOutOfOrder(uint256 index, bytes32 meterId, uint64 slot, uint64 lastSlot);
    error MeterReadingsSequenceNotIncreasing(uint256 index, bytes32 meterId, uint64 lastSequence, uint64 sequence);
    error MeterReadingsEnergyTooLarge(uint256 index, uint64 importWh, uint64 exportWh);
    /// @notice Span `index` holds no reading, or a reading word with bits above its two 64-bit fields.
    error MeterReadingsSpanMalformed(uint256 index);
    error MeterReadingsNotImbalance(address caller);
    error MeterReadingsNotAdmin(address caller);
    error MeterReadingsImbalanceBound(address imbalance);
    /// @notice A profit-sharing period must hold at least one slot.
    error MeterReadingsInvalidPeriod(uint64 periodSlots);

    /// @notice Accept a batch of meter-signed readings. Only the oracle role. All or nothing.
    /// @param readings The readings, in any order of meters; one meter's readings in slot order.
    /// @param signatures `signatures[i]` is the meter's 65-byte ECDSA signature of `readings[i]`.
    function submitReadings(Reading[] calldata readings, bytes[] calldata signatures) external;

    /// @notice Accept a batch of meter-signed spans of readings, one signature per span. Only the
    /// oracle role. All or nothing; an error's `index` is the span's. The readings are committed
    /// slot by slot, reading `k` of every span before reading `k + 1` of any: that is the order of
    /// a slot's ReadingAccepted events and of its commitments.
    /// @param spans The spans, in any order of meters; one meter's spans in slot order.
    /// @param signatures `signatures[i]` is the meter's 65-byte ECDSA signature of `spans[i]`.
    function submitReadingSpans(ReadingSpan[] calldata spans, bytes[] calldata signatures) external;

    /// @notice Close `slot` to readings of `chunk`'s members and return their commitment. Only the
    /// bound imbalance settlement.
    function closeSlot(uint64 slot, uint32 chunk) external returns (uint256 count, bytes32 readingsHash);

    /// @notice Number of readings accepted for `slot` (every chunk) and their commitment so far.
    function slotReadings(uint64 slot) external view returns (uint256 count, bytes32 readingsHash);

    /// @notice Number of readings of `chunk`'s members accepted for `slot`, their commitment, and
    /// whether the slot is closed to them.
    function chunkReadings(uint64 slot, uint32 chunk)
        external
        view
        returns (uint256 count, bytes32 readingsHash, bool closed);

    /// @notice The last reading accepted from a meter: its slot and sequence (`any` false if none).
    function lastReading(bytes32 meterId) external view returns (bool any, uint64 slot, uint64 sequence);

    /// @notice The first slot that takes readings (the deployment's slot). A reading is also refused
    /// for a slot before its meter's chunk opened, and once its (slot, chunk) is closed.
    function openFromSlot() external view returns (uint64);

    /// @notice Slots per profit-sharing period (deploy-time; period p = slots [p·periodSlots,
    /// (p+1)·periodSlots)). The settlements against the meters take it from here.
    function periodSlots() external view returns (uint64);

    /// @notice Wh `member`'s meters exported in `period`, counted as each reading is accepted. Every
    /// accepted reading is settled, and a slot's readings close when it settles, so once every slot
    /// of the period is settled this is what they settled.
    function exportOf(uint64 period, address member) external view returns (uint256);

    /// @notice Wh every meter exported in `period`: the sum of `exportOf(period, ·)`.
    function totalExportOf(uint64 period) external view returns (uint256);

    /// @notice The EIP-712 digest a meter signs for `reading`.
    function readingDigest(Reading calldata reading) external view returns (bytes32);

    /// @notice The EIP-712 digest a meter signs for `span`.
    function spanDigest(ReadingSpan calldata span) external view returns (bytes32);
}
