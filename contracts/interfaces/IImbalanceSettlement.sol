// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IMeterLedger} from "./IMeterLedger.sol";

/// @title Settlement against meters (imbalance), and the audit digest
/// @notice Once a slot's trades are settled and its readings are in (every registered meter has
/// reported, or the reading deadline has passed), its imbalance is settled once per member
/// (market-rules.md, "Settlement against meters"): with `m` = metered net export and `s` = Wh sold −
/// Wh bought, `d = m − s`; `d >= 0` is bought by the DSO's supply account at the feed-in price,
/// `d < 0` is charged at retail (to the supply account) plus the grid fee (to the network account).
/// A charge the balance cannot cover becomes debt (EnergyToken.collect).
///
/// Members settle in chunks (ICommunity.chunkOf: at most `chunkMembers` members each, fixed at
/// registration), one transaction per (slot, chunk), so no transaction grows with the community.
/// Nothing is trusted: the submitter re-supplies the (slot, chunk)'s reading words and the slot's
/// trade words, which must hash to the commitments MeterReadings and Settlement made, and the list of
/// the chunk's members with readings, strictly ascending; the contract aggregates and computes
/// everything else. A member without any reading in the slot has no imbalance (its trades stand as
/// delivered; see docs/decisions.md).
///
/// Each chunk settles its slots strictly in order from its first slot (`nextSlotOf`), and each
/// extends the chunk's audit digest chain:
/// `digest[s][c] = keccak256(abi.encode(digest[s−1][c], s, c, mode, price, volumeWh, tradesHash,
/// readingsHash, imbalanceHash))` (`digest[s−1][c]` is zero at the chunk's first slot), with
/// `readingsHash` the (slot, chunk)'s reading commitment and `imbalanceHash` the running hash
/// `h = keccak256(abi.encode(h, member, importWh, exportWh, tradedNetSoldWh, credit, energyCharge,
/// networkCharge, collected))` over the (slot, chunk)'s `ImbalanceSettled` events in order (h starts at 0).
interface IImbalanceSettlement is IMeterLedger {
    /// @notice One (slot, chunk) of a batch: `settleImbalance`'s arguments.
    struct ImbalanceEntry {
        uint64 slot;
        uint32 chunk;
        address[] members;
        uint256[] readingWords;
        uint256[] tradeWords;
    }

    /// @notice One member's settlement against its meters in `slot`, its figures packed in pairs and a
    /// triple so that the log is four data words, not eight (docs/decisions.md, "Packed events"):
    /// `position` = importWh | exportWh << 64 | uint128(tradedNetSoldWh) << 128 (Wh; `tradedNetSoldWh`
    /// is `s`, two's complement in its 128 bits), `creditAndEnergyCharge` = credit | energyCharge << 128
    /// and `networkChargeAndCollected` = networkCharge | collected << 128 (n€). `credit` is paid by the
    /// DSO, `energyCharge + networkCharge` charged, of which `collected` came from the balance (the rest
    /// became debt). `bauCost` is what the slot would have cost without the local market (negative:
    /// earned).
    event ImbalanceSettled(
        uint64 indexed slot,
        address indexed member,
        uint256 position,
        uint256 creditAndEnergyCharge,
        uint256 networkChargeAndCollected,
        int256 bauCost
    );
    /// @notice `chunk`'s members are settled in `slot`; `digest` is the link in the chunk's audit chain.
    event SlotDigest(uint64 indexed slot, uint32 indexed chunk, bytes32 digest, uint256 members, uint256 readings);

    error ImbalanceNotMatcher(address caller);
    error ImbalanceOutOfOrder(uint32 chunk, uint64 expected, uint64 slot);
    error ImbalanceTradesNotSettled(uint64 slot);
    /// @notice The slot's readings may still come in (until `readyAt`, unix seconds).
    error ImbalanceReadingsPending(uint64 slot, uint256 readyAt);
    error ImbalanceReadingsMismatch(uint64 slot, uint256 count, uint256 submitted);
    error ImbalanceTradesMismatch(uint64 slot);
    error ImbalanceMembersNotAscending(uint256 index);
    /// @notice A reading belongs to `member`, which is not in the submitted member list.
    error ImbalanceMemberMissing(address member);
    error ImbalanceMemberWithoutReading(address member);
    error ImbalanceSupplyUnderfunded(uint256 needed, uint256 balance);
    error ImbalanceNoSupplyAccount();
    error ImbalanceEmptyBatch();

    /// @notice Settle the imbalance of `chunk`'s members in `slot` and extend the chunk's digest
    /// chain. Only the matcher; once per (slot, chunk); in slot order per chunk.
    /// @param chunk A chunk opened in the community (ICommunity.chunkCount).
    /// @param members The chunk's members with at least one reading in the slot, strictly ascending.
    /// @param readingWords The (slot, chunk)'s reading words in acceptance order (see IMeterReadings).
    /// @param tradeWords The slot's trade words in book order (see ISettlement.tradesOf); those of
    /// members outside the list are skipped.
    function settleImbalance(
        uint64 slot,
        uint32 chunk,
        address[] calldata members,
        uint256[] calldata readingWords,
        uint256[] calldata tradeWords
    ) external;

    /// @notice `settleImbalance` for each entry in turn, in one transaction: a batch of (slot, chunk)
    /// pairs, e.g. the slots of a day whose readings came in as one span. Each entry is checked and
    /// settled exactly as alone (same events, in the same order), so a batch may hold several slots
    /// of a chunk in slot order; any entry that would revert alone reverts the whole batch. The
    /// submitter bounds a batch's size (the matcher: `imbalance_batch_member_slots`), so no
    /// transaction grows with the community.
    function settleImbalances(ImbalanceEntry[] calldata entries) external;
}
