// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Mode, Side} from "../lib/MarketTypes.sol";

/// @title Settlement of a slot's trades
/// @notice The matcher computes each slot's clearing off-chain and submits it here. The contract
/// re-checks it against the stored orders and the rulebook (market-rules.md) and refuses any result
/// that breaks it; then it pays sellers, charges buyers from escrow, takes platform fees and network
/// charges into the DSO's accounts and releases unused escrow, all in one transaction.
///
/// Two ways in, one book (market-rules.md, "Orders"). The slot's book is its direct orders (stored
/// by the OrderBook, in id order: forced inclusion, a settlement cannot leave one out) followed by
/// the signed intents the matcher carries in the settlement's calldata, in ascending id order, where
/// an intent's id is its EIP-712 struct hash read as an unsigned integer. Intents never touch
/// storage: each is checked (signer, slot, deadline, the member's nonce epoch, price bounds,
/// membership) and paid from the member's balance, covered at settlement (balance less debt), with
/// each member's account written once.
///
/// Submission format: `fills[i]` is the Wh filled of entry `i` of that combined book (0 for
/// unfilled and cancelled orders). `pairs` is empty except in pay-as-bid mode, where it lists the
/// walk's pairs in walk order, each packed as `buyIndex | sellIndex << 32 | energyWh << 64`.
/// `batch.intents` holds two words per intent: the order word (OrderWord layout: owner, energy,
/// limit price, side; the cancelled bit and the bits above it zero) and
/// `deadline | memberIndex << 64`, where `batch.members[memberIndex]` is the intent's owner;
/// `batch.members` lists each intent owner once, ascending. `batch.signatures` holds two words per
/// intent, the EIP-2098 compact signature (r, vs) of the owner over
/// `Intent(address owner,uint64 slot,uint8 side,uint256 energyWh,uint256 limitPrice,uint256 epoch,uint256 deadline)`
/// under the domain ("gridshare Settlement", "1", chain id, this contract).
interface ISettlement {
    /// @notice The intents a settlement carries (see the contract notice for the layout).
    struct IntentBatch {
        uint256[] intents;
        bytes32[] signatures;
        address[] members;
    }

    /// @notice A slot's clearing was verified and paid. `price` is the clearing price (0 in pay-as-bid
    /// mode and when nothing traded in uniform mode); `fills` and `pairs` are exactly as submitted.
    /// `intentWords` are the order words of the included intents (book entries after the direct
    /// orders, in book order), `intentIds` their ids (EIP-712 struct hashes) and `intentAux` the
    /// rest of each id's terms, `deadline | epoch << 64` (the deadline and the owner's nonce epoch
    /// it was signed under), so that anyone can recompute each id from the event and check its
    /// epoch, deadline and minimum energy.
    event SlotSettled(
        uint64 indexed slot,
        Mode mode,
        uint256 price,
        uint256 volumeWh,
        uint256 tradeValue,
        uint256 platformFees,
        uint256 networkFees,
        uint256[] fills,
        uint256[] pairs,
        uint256[] intentWords,
        uint256[] intentIds,
        uint256[] intentAux
    );

    /// @notice `member` revoked every intent it signed under earlier epochs; `epoch` is now in force.
    event IntentsRevoked(address indexed member, uint256 epoch);

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
    /// @notice Slots settle in order: `expected` is the next slot to settle.
    error SettlementOutOfOrder(uint64 expected, uint64 submitted);
    /// @notice The batch's arrays do not fit together (intent words or signatures not two per
    /// intent) or it carries more intents than a slot's book may hold.
    error SettlementBatchMalformed(uint256 intentWords, uint256 signatureWords, uint256 maxIntents);
    /// @notice `batch.members` is not strictly ascending at `index`.
    error SettlementMembersNotAscending(uint256 index);
    /// @notice Intent `index` (counted among the intents) has bits set outside the order word's
    /// owner, energy, price and side, or names a member index that is not its owner.
    error SettlementIntentMalformed(uint256 index);
    /// @notice Intent `index`'s id is not above the previous entry's: intents must be in strictly
    /// ascending id order (which also rules out an intent included twice).
    error SettlementIntentsNotAscending(uint256 index);
    error SettlementIntentExpired(uint256 index, uint256 deadline, uint256 timestamp);
    error SettlementIntentBadSignature(uint256 index, address owner, address recovered);
    error SettlementIntentEnergy(uint256 index, uint256 energyWh, uint256 minWh);
    error SettlementIntentPriceOutOfBounds(uint256 index, uint256 limitPrice, uint256 feedInPrice, uint256 retailPrice);
    error SettlementIntentNotMember(address owner);
    error SettlementIntentRoleCannotSell(address owner);
    /// @notice What `member`'s filled buy intents cost exceeds its balance less its debt.
    error SettlementIntentUncovered(address member, uint256 cost, uint256 available);

    /// @notice Verify and settle `slot`'s clearing. Only the matcher; once per slot, in slot order
    /// (`nextSlot`); after gate closure.
    /// @param slot The slot (must be `nextSlot`).
    /// @param mode The clearing mode (must be the mode in force for the slot).
    /// @param price Clearing price: uniform p (0 if nothing trades), pay-as-bid 0, community pc.
    /// @param batch The signed intents carried into the slot (see contract notice); may be empty.
    /// @param fills Wh filled per book entry: the direct orders (`slotBook(slot)`), then the intents.
    /// @param pairs Pay-as-bid only: the walk's pairs (see contract notice), else empty.
    function settleSlot(
        uint64 slot,
        Mode mode,
        uint256 price,
        IntentBatch calldata batch,
        uint256[] calldata fills,
        uint256[] calldata pairs
    ) external;

    /// @notice Revoke every outstanding intent the caller signed: its nonce epoch moves on by one, and
    /// intents signed under an earlier epoch no longer verify.
    function revokeIntents() external returns (uint256 epoch);

    /// @notice The nonce epoch a member's intents must be signed under.
    function intentEpoch(address member) external view returns (uint256);

    /// @notice What the matcher needs to select a slot's intents, for many members in one call:
    /// each member's role (MemberRole), nonce epoch and spendable balance (balance less debt).
    function holders(address[] calldata members)
        external
        view
        returns (uint8[] memory roles, uint256[] memory epochs, uint256[] memory spendable);

    /// @notice The first slot this contract settles (the current slot when it was deployed).
    function firstSlot() external view returns (uint64);

    /// @notice The smallest energy of an intent, in Wh (the OrderBook's minimum for direct orders,
    /// read when this contract was deployed).
    function minOrderWh() external view returns (uint256);

    /// @notice The next slot to settle (every earlier slot from the first is settled).
    function nextSlot() external view returns (uint64);

    /// @notice The slot's filled orders, committed for the imbalance settlement and the audit digest:
    /// `tradesHash` = keccak256 of the packed trade words, one per filled order in book order,
    /// `uint160(owner) | filledWh << 160 | (sell ? 1 << 255 : 0)`; and the slot's platform fees (n€).
    function tradesOf(uint64 slot) external view returns (bytes32 tradesHash, uint256 platformFees);

    /// @notice Clearing price and traded volume of a settled slot.
    function clearingOf(uint64 slot) external view returns (bool settled, Mode mode, uint256 price, uint256 volumeWh);
}
