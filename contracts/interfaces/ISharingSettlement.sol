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
/// totals need every chunk, so `tally` runs per chunk in chunk order, pass after pass (dynamic key: 2
/// passes, static: 3), storing the slot's running totals and each chunk's count of consumers and
/// producers before it; then `settle` runs per chunk with the stored totals. Every call re-supplies
/// the chunk's words, checked against the same (closed) commitment.
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
    /// @notice A tally pass of a multi-chunk slot covered `chunk`.
    event SharingTallied(uint64 indexed slot, uint32 indexed chunk, uint8 pass);

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
    /// @notice The slot has `chunks` chunks; its tally must cover them first (next: `pass`, `chunk`).
    error SharingTallyIncomplete(uint64 slot, uint8 pass, uint32 chunk);
    /// @notice Tally passes run per chunk in chunk order: `expected` is next.
    error SharingTallyOutOfOrder(uint64 slot, uint32 expected, uint32 chunk);
    /// @notice The slot's tally is complete, or not needed (one chunk).
    error SharingTallyNotNeeded(uint64 slot);
    /// @notice The chunk is not open in the slot.
    error SharingUnknownChunk(uint64 slot, uint32 chunk);

    /// @notice Run the next tally pass of `slot` over `chunk` (only for a slot with several chunks).
    /// Only the matcher.
    function tally(uint64 slot, uint32 chunk, address[] calldata members, uint256[] calldata readingWords)
        external;

    /// @notice Settle `chunk`'s members in `slot` by the rule and extend the chunk's digest chain. Only
    /// the matcher; once per (slot, chunk); in slot order per chunk; after the slot's tally if it has
    /// several chunks.
    /// @param members The chunk's members with at least one reading in the slot, strictly ascending.
    /// @param readingWords The (slot, chunk)'s reading words in acceptance order (see IMeterReadings).
    function settle(uint64 slot, uint32 chunk, address[] calldata members, uint256[] calldata readingWords)
        external;

    /// @notice The number of chunks taking part in `slot` (those opened at or before it).
    function chunksIn(uint64 slot) external view returns (uint32);

    /// @notice Tally passes a multi-chunk slot needs before it settles (2 dynamic, 3 static).
    function passes() external view returns (uint8);
}
