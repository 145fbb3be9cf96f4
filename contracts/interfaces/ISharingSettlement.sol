// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IMeterLedger} from "./IMeterLedger.sol";

/// @title Energy-sharing settlement (mode `sharing`)
/// @notice Settles each (slot, chunk) of a community deployed in the `sharing` mode from its committed
/// meter readings alone (market-rules.md, "Energy sharing"): the caller re-supplies the chunk's members
/// (strictly ascending) and reading words, which must hash to MeterReadings' (slot, chunk) commitment,
/// and the contract computes every figure: consumption `c_i`, production `g_i`, participating `C_i`,
/// `G_i` (Community.sharingTermsOf), the key's allotment (G.02), the allocation `a_i` (G.03), the
/// credit `r_j`, the surplus (P.01) and the money.
///
/// Member order: the rule hands leftover Wh out "in ascending member id"; on-chain the member id is
/// the order (chunk, address): chunk first, then address. When `E < D` every member with `C_i > 0`
/// has `floor(C_i·E/D) < C_i` and the leftover is smaller than their number, so the first `E − Σ
/// floor(C_i·E/D)` such members in that order get one Wh each (one pass); likewise producers.
///
/// One chunk in the slot: `settle` does everything in one transaction. Several chunks: the community
/// totals need every chunk, so `tally` runs once per chunk in chunk order before any chunk settles.
/// The matcher names the totals `E`, `D`, `A` it computed off-chain with chunk 0's call; each chunk
/// adds its figures and its terms of the rule computed with the named totals (Σ floor(C_i·E/D),
/// Σ floor(A·G_j/E), and for the static key Σ min(allotment, C_i)), and the last chunk's call
/// checks that the counted totals are the named ones (`SharingTallyTotalsMismatch` otherwise: the
/// tally starts again from chunk 0). So one pass computes what a pass per total would, and no
/// money moves on a total that was not counted. Each tally call re-supplies the chunk's words,
/// checked against the (slot, chunk)'s commitment, which it closes. The tally stores the slot's
/// sums and, per chunk, a hash of what it counted (the consumers and producers before it, the
/// readings commitment, the members and their packed figures); `settleTallied` then runs per chunk
/// with the stored totals and those figures, checked against the hash (no words or terms again).
///
/// Digest chain per chunk: `digest[s][c] = keccak256(abi.encode(digest[s−1][c], s, c, key, E, D, A,
/// readingsHash, rowsHash))`, `rowsHash` the running `h = keccak256(abi.encode(h, member, row))` over the
/// chunk's `SharingSettled` rows in order (`row` the event's eleven figures, a word each).
interface ISharingSettlement is IMeterLedger {
    /// @notice One member's settlement in `slot`. A member consumes or produces in a slot, never both.
    /// `charged` = what a consumer owes (energy, network charges, platform fee), of which `collected`
    /// came from its balance (the rest became debt); `paid` = what a producer received (net of its
    /// platform fee). `bauCost` is the slot's cost without the community (negative: earned). The
    /// eleven figures are packed into four words (docs/decisions.md, "Packed events"), 64 bits per Wh
    /// figure and 128 per n€ one, each from bit 0 in this order: `meteredWh` = importWh, exportWh,
    /// participatingConsumptionWh, participatingProductionWh; `sharedWh` = allotmentWh, allocatedWh,
    /// creditedWh; `chargedAndPaid` = charged, paid; `collectedAndBauCost` = collected, bauCost (two's
    /// complement in its 128 bits).
    event SharingSettled(
        uint64 indexed slot,
        address indexed member,
        uint256 meteredWh,
        uint256 sharedWh,
        uint256 chargedAndPaid,
        uint256 collectedAndBauCost
    );
    /// @notice `chunk`'s members are settled in `slot` with the community totals `E`, `D`, `A`.
    event SharingSlotDigest(
        uint64 indexed slot,
        uint32 indexed chunk,
        bytes32 digest,
        uint256 productionWh,
        uint256 demandWh,
        uint256 allocatedWh,
        uint256 members
    );
    /// @notice The tally of a multi-chunk slot covered `chunk`, under the named community totals
    /// `totals` = productionWh | demandWh << 64 | allocatedWh << 128 (E, D, A; packed as
    /// docs/decisions.md, "Packed events", says).
    event SharingTallied(uint64 indexed slot, uint32 indexed chunk, uint256 totals);

    error SharingNotMatcher(address caller);
    error SharingOutOfOrder(uint32 chunk, uint64 expected, uint64 slot);
    /// @notice The slot's readings may still come in (until `readyAt`, unix seconds).
    error SharingReadingsPending(uint64 slot, uint256 readyAt);
    /// @notice The re-supplied words are not the (slot, chunk)'s committed readings.
    error SharingReadingsMismatch(uint64 slot, uint32 chunk, uint256 count, uint256 submitted);
    error SharingMembersNotAscending(uint256 index);
    /// @notice A reading belongs to `member`, which is not in the submitted member list.
    error SharingMemberMissing(address member);
    error SharingMemberWithoutReading(address member);
    error SharingSupplyUnderfunded(uint256 needed, uint256 balance);
    error SharingNoSupplyAccount();
    /// @notice The slot has several chunks; its tally must cover them first (next: `chunk`).
    error SharingTallyIncomplete(uint64 slot, uint32 chunk);
    /// @notice The tally runs per chunk in chunk order: `expected` is next (chunk 0 starts it again).
    error SharingTallyOutOfOrder(uint64 slot, uint32 expected, uint32 chunk);
    /// @notice A chunk after the first named other totals than chunk 0's call (`claimed`).
    error SharingTallyTotalsChanged(uint64 slot, uint256 claimed, uint256 totals);
    /// @notice Every chunk counted, the totals (`counted`, packed as `totals`) are not the named ones
    /// (`claimed`): the tally starts again from chunk 0.
    error SharingTallyTotalsMismatch(uint64 slot, uint256 claimed, uint256 counted);
    /// @notice The slot's tally is complete, or not needed (one chunk).
    error SharingTallyNotNeeded(uint64 slot);
    /// @notice The chunk is not open in the slot.
    error SharingUnknownChunk(uint64 slot, uint32 chunk);
    /// @notice A slot of several chunks settles from its tally's figures (`settleTallied`).
    error SharingSettleFromTally(uint64 slot);
    /// @notice The figures given are not those the tally counted for the (slot, chunk).
    error SharingTallyMismatch(uint64 slot, uint32 chunk);

    /// @notice Count `chunk` into the tally of `slot` (only for a slot with several chunks), in chunk
    /// order; chunk 0 starts the tally (again, if it was under way). Only the matcher.
    /// @param totals The community totals the matcher computed, E | D << 64 | A << 128 (Wh): chunk 0
    /// names them, later chunks repeat them; the last chunk checks them against the counted ones.
    /// @param members As for `settle`.
    /// @param readingWords As for `settle`.
    function tally(
        uint64 slot, uint32 chunk, uint256 totals, address[] calldata members, uint256[] calldata readingWords
    ) external;

    /// @notice The tally of `slot`: the totals chunk 0 named, the next chunk to count and whether every
    /// chunk was counted and the totals checked (then `settle` may run).
    function tallyOf(uint64 slot) external view returns (uint256 claimed, uint32 nextChunk, bool complete);

    /// @notice Settle `chunk`'s members in a slot of one chunk by the rule and extend the chunk's digest
    /// chain. Only the matcher; once per (slot, chunk); in slot order per chunk. A slot of several
    /// chunks settles with `settleTallied` (`SharingSettleFromTally`).
    /// @param members The chunk's members with at least one reading in the slot, strictly ascending.
    /// @param readingWords The (slot, chunk)'s reading words in acceptance order (see IMeterReadings).
    function settle(uint64 slot, uint32 chunk, address[] calldata members, uint256[] calldata readingWords)
        external;

    /// @notice Settle `chunk`'s members in a slot of several chunks, once its tally is complete, from the
    /// figures the tally counted for the chunk (checked against the hash it stored), not from the
    /// words and terms again. Only the matcher; once per (slot, chunk); in slot order per chunk.
    /// @param before consumers | producers << 32 in the chunks before this one.
    /// @param readingsHash The (slot, chunk)'s readings commitment (closed by the tally).
    /// @param members As for `settle`.
    /// @param flows Per member: importWh | exportWh << 96, the sums of its readings in the slot.
    /// @param rule Per member: C | G << 96 | sharePpm << 192 (participating consumption and production,
    /// with its participation factor; its static share in the slot, Community.sharingTermsOf).
    function settleTallied(
        uint64 slot,
        uint32 chunk,
        uint256 before,
        bytes32 readingsHash,
        address[] calldata members,
        uint256[] calldata flows,
        uint256[] calldata rule
    ) external;

    /// @notice The number of chunks taking part in `slot` (those opened at or before it).
    function chunksIn(uint64 slot) external view returns (uint32);
}
