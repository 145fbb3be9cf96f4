// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Side} from "../lib/MarketTypes.sol";

/// @title The order book: orders per slot and the escrow of buy orders
/// @notice Members (or a relayer holding the member's EIP-712 signature) place buy and sell orders for
/// delivery slots until gate closure. A buy order escrows `limit * energy` plus the largest fees it can
/// incur; prepaid means no escrow, no order. The bound settlement contract settles each slot once.
interface IOrderBook {
    /// @notice What a member signs to place an order (one slot if `fromSlot == toSlot`, else a standing
    /// order: one instance per slot of the range).
    struct OrderIntent {
        address owner;
        uint64 fromSlot;
        uint64 toSlot;
        Side side;
        uint256 energyWh;
        uint256 limitPrice;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Order `id` was placed; it is entry `index` of `slot`'s book and escrowed `escrow` n€.
    event OrderPlaced(
        uint256 indexed id,
        address indexed owner,
        uint64 indexed slot,
        uint32 index,
        Side side,
        uint256 energyWh,
        uint256 limitPrice,
        uint256 escrow
    );
    /// @notice Order `id` was cancelled and its escrow `refund` released to its owner.
    event OrderCancelled(uint256 indexed id, address indexed owner, uint64 indexed slot, uint256 refund);
    /// @notice Slot `slot` was settled: its escrow `escrowReleased` paid out to buyers, sellers and the DSO.
    event SlotClosed(uint64 indexed slot, uint256 escrowReleased);
    /// @notice The settlement contract was bound (once).
    event SettlementBound(address settlement);
    /// @notice A signed-intent nonce was used (placement or cancellation by a relayer).
    event NonceUsed(address indexed owner, uint256 nonce);

    error OrderBookZeroEnergy();
    error OrderBookEnergyTooLarge(uint256 energyWh, uint256 max);
    error OrderBookNotMember(address account);
    error OrderBookRoleCannotSell(address account);
    error OrderBookPriceOutOfBounds(uint256 limitPrice, uint256 feedInPrice, uint256 retailPrice);
    error OrderBookGateClosed(uint64 slot, uint256 gateClosure, uint256 now_);
    error OrderBookBeyondHorizon(uint64 slot, uint64 lastOpenSlot);
    error OrderBookInvalidRange(uint64 fromSlot, uint64 toSlot, uint64 maxSlots);
    error OrderBookSlotFull(uint64 slot, uint256 maxOrders);
    error OrderBookMemberSlotFull(address owner, uint64 slot, uint256 maxOrders);
    error OrderBookEnergyTooSmall(uint256 energyWh, uint256 min);
    error OrderBookInvalidLimits(uint256 maxOrdersPerMemberSlot, uint256 minOrderWh);
    error OrderBookUnknownOrder(uint256 id);
    error OrderBookNotOwner(uint256 id, address caller);
    error OrderBookAlreadyCancelled(uint256 id);
    error OrderBookSignatureExpired(uint256 deadline, uint256 now_);
    error OrderBookBadSignature(address owner, address signer);
    error OrderBookNonceUsed(address owner, uint256 nonce);
    error OrderBookSlotAlreadySettled(uint64 slot);
    error OrderBookGateOpen(uint64 slot, uint256 gateClosure);
    error OrderBookEscrowMismatch(uint64 slot, uint256 escrow, uint256 payout);
    error OrderBookNotSettlement(address caller);
    error OrderBookNotAdmin(address caller);
    error OrderBookSettlementBound(address settlement);
    error OrderBookNotMembership(address caller);

    /// @notice Place an order for one slot from the caller's wallet.
    /// @param slot Delivery slot.
    /// @param side Buy or sell.
    /// @param energyWh Energy in Wh (at least `minOrderWh`, > 0).
    /// @param limitPrice Limit in n€/Wh, within [feed-in, retail] of the slot's tariff.
    /// @return id The order id.
    function placeOrder(uint64 slot, Side side, uint256 energyWh, uint256 limitPrice) external returns (uint256 id);

    /// @notice Place a standing order: the same order for every slot in [fromSlot, toSlot].
    /// @return firstId Id of the first instance; the instances have consecutive ids.
    function placeStandingOrder(uint64 fromSlot, uint64 toSlot, Side side, uint256 energyWh, uint256 limitPrice)
        external
        returns (uint256 firstId);

    /// @notice Place the order a member signed (EIP-712 `OrderIntent`); anyone may relay it.
    /// @return firstId Id of the first (or only) instance.
    function placeOrderWithSig(OrderIntent calldata intent, bytes calldata signature) external returns (uint256 firstId);

    /// @notice Cancel an open order before its slot's gate closure and release its escrow.
    function cancelOrder(uint256 id) external;

    /// @notice Cancel the order the member signed (EIP-712 `CancelIntent`); anyone may relay it.
    function cancelOrderWithSig(address owner, uint256 id, uint256 nonce, uint256 deadline, bytes calldata signature)
        external;

    /// @notice Cancel all of the caller's open orders in `slot` (before its gate closure).
    /// @return count Number of orders cancelled.
    function cancelAll(uint64 slot) external returns (uint256 count);

    /// @notice Cancel every order of a leaving member in slots whose gate is still open and return
    /// its escrow. Only the membership contract. Scans each slot up to `lastOrderSlot(owner)`.
    /// @return count Number of orders cancelled.
    /// @return refund Escrow returned to the owner, in n€.
    function cancelOpenOrders(address owner) external returns (uint256 count, uint256 refund);

    /// @notice Orders `owner` placed in `slot`, cancelled ones included (at most
    /// `maxOrdersPerMemberSlot`).
    function memberOrderCount(uint64 slot, address owner) external view returns (uint256);

    /// @notice The latest slot for which `owner` ever placed an order (0 if none).
    function lastOrderSlot(address owner) external view returns (uint64);

    /// @notice Mark `slot` settled and pay its whole escrow out. Only the bound settlement contract,
    /// once per slot, after gate closure; the amounts must add up to the slot's escrow exactly.
    /// @param payouts One word per payout, `uint160(recipient) | amount << 160` (see
    /// IEnergyToken.transferBatch).
    function closeSlot(uint64 slot, uint256[] calldata payouts) external;

    /// @notice The packed order words of `slot` (see OrderWord), in placement (= id) order.
    function slotBook(uint64 slot) external view returns (uint256[] memory);

    /// @notice Number of orders in `slot`.
    function slotOrderCount(uint64 slot) external view returns (uint256);

    /// @notice Escrow currently held for `slot`, in n€.
    function slotEscrow(uint64 slot) external view returns (uint256);

    /// @notice Whether `slot` was settled: Settlement settles slots in order, each once, so every slot
    /// before the next one it closes (slots before its first included, which take no order).
    function slotSettled(uint64 slot) external view returns (bool);

    /// @notice Slot, book index and packed word of order `id`.
    function orderById(uint256 id) external view returns (uint64 slot, uint32 index, uint256 word);

    /// @notice Ids of `slot`'s orders, in book order.
    function slotOrderIds(uint64 slot) external view returns (uint256[] memory);

    /// @notice Escrow a buy order of `energyWh` at `limitPrice` locks in `slot`, in n€.
    function escrowFor(uint64 slot, Side side, uint256 energyWh, uint256 limitPrice) external view returns (uint256);

    /// @notice Whether `owner` already used `nonce` for a signed intent.
    function nonceUsed(address owner, uint256 nonce) external view returns (bool);

    /// @notice Total escrow held by the book, in n€ (== the book's token balance).
    function escrowHeld() external view returns (uint256);

    /// @notice Cap on a slot's direct orders (and on the intents one settlement may carry).
    function maxOrdersPerSlot() external view returns (uint256);

    /// @notice Smallest order energy, in Wh (direct orders and intents alike).
    function minOrderWh() external view returns (uint256);
}
