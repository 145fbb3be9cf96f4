// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Mode, Side} from "../lib/MarketTypes.sol";

/// @title Settlement of a slot's trades
/// @notice The matcher computes each slot's clearing off-chain and submits it here. The contract
/// re-checks it against the stored orders and the rulebook (market-rules.md) and refuses any result
/// that breaks it; then it pays sellers, charges buyers from escrow, takes platform fees and network
/// charges into the DSO's accounts and releases unused escrow, all in one transaction.
///
/// Submission format: `fills[i]` is the Wh filled of entry `i` of the slot's book (0 for unfilled and
/// cancelled orders). `pairs` is empty except in pay-as-bid mode, where it lists the walk's pairs in
/// walk order, each packed as `buyIndex | sellIndex << 32 | energyWh << 64`.
interface ISettlement {
    /// @notice A slot's clearing was verified and paid. `price` is the clearing price (0 in pay-as-bid
    /// mode and when nothing traded in uniform mode); `fills` and `pairs` are exactly as submitted.
    event SlotSettled(
        uint64 indexed slot,
        Mode mode,
        uint256 price,
        uint256 volumeWh,
        uint256 tradeValue,
        uint256 platformFees,
        uint256 networkFees,
        uint256[] fills,
        uint256[] pairs
    );

    error SettlementNotMatcher(address caller);
    error SettlementAlreadySettled(uint64 slot);
    error SettlementModeMismatch(uint64 slot, Mode expected, Mode submitted);
    error SettlementFillsLength(uint256 orders, uint256 fills);
    error SettlementCancelledFilled(uint256 index);
    error SettlementOverFill(uint256 index, uint256 filledWh, uint256 energyWh);
    error SettlementVolumeMismatch(uint256 boughtWh, uint256 soldWh);
    /// @notice Entry `behind` received energy while entry `ahead`, which has priority, was not full.
    error SettlementPriorityViolated(Side side, uint256 ahead, uint256 behind);
    /// @notice More than one partially filled order on a side.
    error SettlementTwoPartials(Side side, uint256 first, uint256 second);
    /// @notice An unfilled bid and an unfilled offer that cross were left unmatched.
    error SettlementCrossingLeft(uint256 bidPrice, uint256 offerPrice);
    error SettlementClearingPrice(uint256 expected, uint256 submitted);
    error SettlementLimitViolated(uint256 index, uint256 limitPrice, uint256 tradePrice);
    /// @notice Pair `k` is not the rulebook's walk (code: 1 index out of range or wrong side/cancelled,
    /// 2 switched order before it was exhausted or kept an exhausted one, 3 not next in priority,
    /// 4 quantity is not min(remaining bid, remaining offer), 5 pairs outside pay-as-bid mode).
    error SettlementPairInvalid(uint256 k, uint8 code);
    error SettlementPairsMismatchFills(uint256 index, uint256 pairedWh, uint256 filledWh);
    error SettlementProRata(uint256 index, uint256 expectedWh, uint256 filledWh);

    /// @notice Verify and settle `slot`'s clearing. Only the matcher; once per slot; after gate closure.
    /// @param slot The slot.
    /// @param mode The clearing mode (must be the mode in force for the slot).
    /// @param price Clearing price: uniform p (0 if nothing trades), pay-as-bid 0, community pc.
    /// @param fills Wh filled per book entry, aligned with `slotBook(slot)`.
    /// @param pairs Pay-as-bid only: the walk's pairs (see contract notice), else empty.
    function settleSlot(uint64 slot, Mode mode, uint256 price, uint256[] calldata fills, uint256[] calldata pairs)
        external;

    /// @notice The slot's filled orders, committed for the imbalance settlement and the audit digest:
    /// `tradesHash` = keccak256 of the packed trade words, one per filled order in book order,
    /// `uint160(owner) | filledWh << 160 | (sell ? 1 << 255 : 0)`; and the slot's platform fees (n€).
    function tradesOf(uint64 slot) external view returns (bytes32 tradesHash, uint256 platformFees);

    /// @notice Clearing price and traded volume of a settled slot.
    function clearingOf(uint64 slot) external view returns (bool settled, Mode mode, uint256 price, uint256 volumeWh);
}
