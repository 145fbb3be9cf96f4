// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IOrderBook} from "./interfaces/IOrderBook.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {MemberRole, Side, Tariff} from "./lib/MarketTypes.sol";
import {OrderWord} from "./lib/OrderWord.sol";
import {Calendar} from "./lib/Calendar.sol";
import {CommunityClock} from "./base/CommunityClock.sol";
import {Roles} from "./lib/Roles.sol";
import {SignedNonces} from "./lib/SignedNonces.sol";
import {TariffMath} from "./lib/TariffMath.sol";

/// @title OrderBook
/// @notice Orders per slot and the escrow of buy orders (see IOrderBook). The book holds escrow as its
/// own token balance; each slot's escrow leaves it exactly once, through `closeSlot`, or order by
/// order through cancellation.
contract OrderBook is EIP712, CommunityClock, IOrderBook {
    using OrderWord for uint256;

    bytes32 public constant ORDER_INTENT_TYPEHASH = keccak256(
        "OrderIntent(address owner,uint64 fromSlot,uint64 toSlot,uint8 side,uint256 energyWh,uint256 limitPrice,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant CANCEL_INTENT_TYPEHASH =
        keccak256("CancelIntent(address owner,uint256 orderId,uint256 nonce,uint256 deadline)");
    uint256 private constant LOCATED = 1 << 255;

    ICommunity public immutable community;
    IEnergyToken public immutable token;
    /// @notice Cap on orders per slot, so that any slot settles within one transaction.
    uint256 public immutable maxOrdersPerSlot;
    /// @notice Cap on the number of slots of one standing order.
    uint64 public immutable maxStandingSlots;
    /// @notice Cap on the orders one member may place in one slot (cancelled orders count: they keep
    /// their place in the book), so no member can fill a slot's book alone.
    uint256 public immutable maxOrdersPerMemberSlot;
    /// @notice Smallest order energy, in Wh (dust orders cost the book as much as large ones).
    uint256 public immutable minOrderWh;
    uint64 private immutable _gateClosureSeconds;
    uint64 private immutable _horizon;

    /// @notice The settlement contract allowed to close slots (bound once by the admin).
    address public settlement;
    /// @dev Every slot before this one is settled (Settlement closes them in order, each once). One
    /// word for all slots, beside `settlement` (read anyway when a slot closes), instead of a new word
    /// per slot: a slot's close writes no fresh storage, and the state does not grow with the slots.
    uint64 private _settledBefore;
    /// @notice Id the next order will get.
    uint256 public nextOrderId = 1;

    mapping(uint64 slot => uint256[]) private _book;
    mapping(uint64 slot => uint64[]) private _ids;
    /// @inheritdoc IOrderBook
    mapping(uint64 slot => uint256) public slotEscrow;
    /// @inheritdoc IOrderBook
    mapping(address owner => mapping(uint256 nonce => bool)) public nonceUsed;
    mapping(uint256 id => uint256) private _location; // LOCATED | slot << 32 | index
    /// @inheritdoc IOrderBook
    mapping(address owner => uint64) public lastOrderSlot;
    /// @inheritdoc IOrderBook
    mapping(uint64 slot => mapping(address owner => uint256)) public memberOrderCount;
    /// @dev One bit a slot, 256 slots a word: set by the slot's first direct order. A slot without
    /// one settles without reading its book and escrow words: an unwritten word read costs a chain
    /// no state, but a development node (anvil) keeps it, and every later block pays for it
    /// (docs/benchmarks.md, "anvil"); here it was two words a slot.
    mapping(uint256 word => uint256) private _booked;

    /// @param community_ The community (calendar, members, tariffs, roles).
    /// @param token_ The prepaid token; this book needs its MARKET_ROLE.
    /// @param maxOrdersPerSlot_ Orders per slot cap (settlement gas bound).
    /// @param maxStandingSlots_ Slots per standing order cap.
    /// @param maxOrdersPerMemberSlot_ Orders one member may place in one slot (>= 1).
    /// @param minOrderWh_ Smallest order energy in Wh (>= 1).
    constructor(
        ICommunity community_,
        IEnergyToken token_,
        uint256 maxOrdersPerSlot_,
        uint64 maxStandingSlots_,
        uint256 maxOrdersPerMemberSlot_,
        uint256 minOrderWh_
    ) EIP712("gridshare OrderBook", "1") CommunityClock(community_) {
        if (maxOrdersPerMemberSlot_ == 0 || minOrderWh_ == 0 || minOrderWh_ > OrderWord.MAX_ENERGY) {
            revert OrderBookInvalidLimits(maxOrdersPerMemberSlot_, minOrderWh_);
        }
        community = community_;
        token = token_;
        maxOrdersPerSlot = maxOrdersPerSlot_;
        maxStandingSlots = maxStandingSlots_;
        maxOrdersPerMemberSlot = maxOrdersPerMemberSlot_;
        minOrderWh = minOrderWh_;
        _gateClosureSeconds = community_.gateClosureSeconds();
        _horizon = community_.orderHorizonSlots();
    }

    /// @notice Bind the settlement contract (once). Only the community admin.
    function bindSettlement(address settlement_) external {
        if (!community.hasRole(Roles.ADMIN, msg.sender)) revert OrderBookNotAdmin(msg.sender);
        if (settlement != address(0)) revert OrderBookSettlementBound(settlement);
        settlement = settlement_;
        emit SettlementBound(settlement_);
    }

    // ----------------------------------------------------------------------------------- placing

    /// @inheritdoc IOrderBook
    function placeOrder(uint64 slot, Side side, uint256 energyWh, uint256 limitPrice) external returns (uint256 id) {
        return _place(msg.sender, slot, slot, side, energyWh, limitPrice);
    }

    /// @inheritdoc IOrderBook
    function placeStandingOrder(uint64 fromSlot, uint64 toSlot, Side side, uint256 energyWh, uint256 limitPrice)
        external
        returns (uint256 firstId)
    {
        return _place(msg.sender, fromSlot, toSlot, side, energyWh, limitPrice);
    }

    /// @inheritdoc IOrderBook
    function placeOrderWithSig(OrderIntent calldata intent, bytes calldata signature)
        external
        returns (uint256 firstId)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                ORDER_INTENT_TYPEHASH,
                intent.owner,
                intent.fromSlot,
                intent.toSlot,
                uint8(intent.side),
                intent.energyWh,
                intent.limitPrice,
                intent.nonce,
                intent.deadline
            )
        );
        _useSignedNonce(intent.owner, intent.nonce, intent.deadline, structHash, signature);
        return _place(intent.owner, intent.fromSlot, intent.toSlot, intent.side, intent.energyWh, intent.limitPrice);
    }

    // ----------------------------------------------------------------------------------- cancelling

    /// @inheritdoc IOrderBook
    function cancelOrder(uint256 id) external {
        _cancel(msg.sender, id);
    }

    /// @inheritdoc IOrderBook
    function cancelOrderWithSig(address owner, uint256 id, uint256 nonce, uint256 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash = keccak256(abi.encode(CANCEL_INTENT_TYPEHASH, owner, id, nonce, deadline));
        _useSignedNonce(owner, nonce, deadline, structHash, signature);
        _cancel(owner, id);
    }

    /// @inheritdoc IOrderBook
    function cancelAll(uint64 slot) external returns (uint256 count) {
        _requireGateOpen(slot);
        uint256 refund;
        (count, refund) = _cancelOwnerInSlot(msg.sender, slot);
        // EnergyToken (OpenZeppelin ERC20) reverts or returns true (triaged: docs/security.md).
        // slither-disable-next-line unchecked-transfer
        if (refund != 0) token.transfer(msg.sender, refund);
    }

    /// @inheritdoc IOrderBook
    function cancelOpenOrders(address owner) external returns (uint256 count, uint256 refund) {
        if (!community.hasRole(Roles.MEMBERSHIP, msg.sender)) revert OrderBookNotMembership(msg.sender);
        uint64 slot = _currentSlot() + 1;
        if (block.timestamp >= _gateClosure(slot)) ++slot; // first slot whose gate is still open
        uint64 last = lastOrderSlot[owner];
        for (; slot <= last; ++slot) {
            (uint256 c, uint256 r) = _cancelOwnerInSlot(owner, slot);
            count += c;
            refund += r;
        }
        // EnergyToken (OpenZeppelin ERC20) reverts or returns true (triaged: docs/security.md).
        // slither-disable-next-line unchecked-transfer
        if (refund != 0) token.transfer(owner, refund);
    }

    // ----------------------------------------------------------------------------------- settlement

    /// @inheritdoc IOrderBook
    function closeSlot(uint64 slot, uint256[] calldata payouts) external {
        if (msg.sender != settlement) revert OrderBookNotSettlement(msg.sender);
        if (slot < _settledBefore) revert OrderBookSlotAlreadySettled(slot);
        uint256 closure = _gateClosure(slot);
        if (block.timestamp < closure) revert OrderBookGateOpen(slot, closure);
        uint256 total = 0;
        for (uint256 i; i < payouts.length; ++i) {
            unchecked {
                total += payouts[i] >> 160; // each < 2**96, at most maxOrdersPerSlot + 2 of them
            }
        }
        uint256 escrow = _isBooked(slot) ? slotEscrow[slot] : 0;
        if (total != escrow) revert OrderBookEscrowMismatch(slot, escrow, total);
        _settledBefore = slot + 1;
        if (escrow != 0) slotEscrow[slot] = 0;
        emit SlotClosed(slot, escrow);
        token.transferBatch(payouts);
    }

    // ----------------------------------------------------------------------------------- views

    /// @inheritdoc IOrderBook
    function slotBook(uint64 slot) external view returns (uint256[] memory) {
        if (!_isBooked(slot)) return new uint256[](0);
        return _book[slot];
    }

    /// @inheritdoc IOrderBook
    function slotSettled(uint64 slot) external view returns (bool) {
        return slot < _settledBefore;
    }

    /// @inheritdoc IOrderBook
    function slotOrderCount(uint64 slot) external view returns (uint256) {
        return _book[slot].length;
    }

    /// @inheritdoc IOrderBook
    function slotOrderIds(uint64 slot) external view returns (uint256[] memory ids) {
        uint64[] storage stored = _ids[slot];
        ids = new uint256[](stored.length);
        for (uint256 i; i < ids.length; ++i) {
            ids[i] = stored[i];
        }
    }

    /// @inheritdoc IOrderBook
    function orderById(uint256 id) public view returns (uint64 slot, uint32 index, uint256 word) {
        uint256 loc = _location[id];
        if (loc & LOCATED == 0) revert OrderBookUnknownOrder(id);
        slot = uint64(loc >> 32);
        index = uint32(loc);
        word = _book[slot][index];
    }

    /// @inheritdoc IOrderBook
    function escrowFor(uint64 slot, Side side, uint256 energyWh, uint256 limitPrice) public view returns (uint256) {
        if (side == Side.Sell) return 0;
        return TariffMath.buyEscrow(community.tariffAt(slot), energyWh, limitPrice);
    }

    /// @inheritdoc IOrderBook
    function escrowHeld() external view returns (uint256) {
        return token.balanceOf(address(this));
    }

    /// @notice The EIP-712 domain separator for signed intents.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ----------------------------------------------------------------------------------- internal

    function _place(address owner, uint64 fromSlot, uint64 toSlot, Side side, uint256 energyWh, uint256 limitPrice)
        private
        returns (uint256 firstId)
    {
        if (energyWh == 0) revert OrderBookZeroEnergy();
        if (energyWh < minOrderWh) revert OrderBookEnergyTooSmall(energyWh, minOrderWh);
        if (energyWh > OrderWord.MAX_ENERGY) revert OrderBookEnergyTooLarge(energyWh, OrderWord.MAX_ENERGY);
        if (toSlot < fromSlot || toSlot - fromSlot >= maxStandingSlots) {
            revert OrderBookInvalidRange(fromSlot, toSlot, maxStandingSlots);
        }
        MemberRole role = community.memberRole(owner);
        if (role == MemberRole.None) revert OrderBookNotMember(owner);
        if (side == Side.Sell && role == MemberRole.Consumer) revert OrderBookRoleCannotSell(owner);
        _requireGateOpen(fromSlot);
        uint64 lastOpen = _currentSlot() + _horizon;
        if (toSlot > lastOpen) revert OrderBookBeyondHorizon(toSlot, lastOpen);

        firstId = nextOrderId;
        uint256 totalEscrow = 0;
        for (uint64 slot = fromSlot; slot <= toSlot; ++slot) {
            totalEscrow += _placeInSlot(firstId + (slot - fromSlot), slot, owner, side, energyWh, limitPrice);
        }
        nextOrderId = firstId + (toSlot - fromSlot) + 1;
        if (toSlot > lastOrderSlot[owner]) lastOrderSlot[owner] = toSlot;
        if (totalEscrow != 0) token.marketPull(owner, totalEscrow);
    }

    /// @dev Append order `id` to `slot`'s book; returns the escrow it locks. The price bounds are
    /// checked on the caller's value before packing: retail < 2**40 (Community enforces it), so an
    /// in-bounds limit always fits its 40 bits and cannot spill into the side or cancelled bits.
    function _placeInSlot(uint256 id, uint64 slot, address owner, Side side, uint256 energyWh, uint256 limitPrice)
        private
        returns (uint256 escrow)
    {
        Tariff memory t = community.tariffAt(slot);
        if (!TariffMath.inBounds(t, limitPrice)) {
            revert OrderBookPriceOutOfBounds(limitPrice, t.feedInPrice, t.retailPrice);
        }
        uint256 word = OrderWord.pack(owner, side, energyWh, limitPrice);
        if (side == Side.Buy) escrow = TariffMath.buyEscrow(t, energyWh, limitPrice);
        uint256[] storage book = _book[slot];
        uint256 index = book.length;
        if (index >= maxOrdersPerSlot) revert OrderBookSlotFull(slot, maxOrdersPerSlot);
        if (index == 0) _booked[slot >> 8] |= 1 << (slot & 255);
        uint256 placed = memberOrderCount[slot][owner];
        if (placed >= maxOrdersPerMemberSlot) revert OrderBookMemberSlotFull(owner, slot, maxOrdersPerMemberSlot);
        memberOrderCount[slot][owner] = placed + 1;
        book.push(word);
        _ids[slot].push(uint64(id));
        _location[id] = LOCATED | (uint256(slot) << 32) | index;
        if (escrow != 0) slotEscrow[slot] += escrow;
        emit OrderPlaced(id, owner, slot, uint32(index), side, energyWh, limitPrice, escrow);
    }

    /// @dev Cancel `owner`'s live orders in `slot` (whose gate the caller checked is open); returns how
    /// many and the escrow released from the slot (the caller transfers it).
    function _cancelOwnerInSlot(address owner, uint64 slot) private returns (uint256 count, uint256 refund) {
        uint256[] storage book = _book[slot];
        uint64[] storage ids = _ids[slot];
        uint256 n = book.length;
        for (uint256 i; i < n; ++i) {
            uint256 w = book[i];
            if (w.owner() != owner || w.isCancelled()) continue;
            book[i] = w.cancelled();
            uint256 escrow = _escrowOfWord(slot, w);
            refund += escrow;
            ++count;
            emit OrderCancelled(ids[i], owner, slot, escrow);
        }
        if (refund != 0) slotEscrow[slot] -= refund;
    }

    function _cancel(address caller, uint256 id) private {
        (uint64 slot, uint32 index, uint256 w) = orderById(id);
        if (w.owner() != caller) revert OrderBookNotOwner(id, caller);
        if (w.isCancelled()) revert OrderBookAlreadyCancelled(id);
        _requireGateOpen(slot);
        _book[slot][index] = w.cancelled();
        uint256 escrow = _escrowOfWord(slot, w);
        if (escrow != 0) slotEscrow[slot] -= escrow;
        emit OrderCancelled(id, caller, slot, escrow);
        // EnergyToken (OpenZeppelin ERC20) reverts or returns true (triaged: docs/security.md).
        // slither-disable-next-line unchecked-transfer
        if (escrow != 0) token.transfer(caller, escrow);
    }

    /// @dev The relayed intent's replay check (SignedNonces, shared with Flexibility), refused with
    /// this book's named errors; on success the nonce is used and `NonceUsed` emitted.
    function _useSignedNonce(address owner, uint256 nonce, uint256 deadline, bytes32 structHash, bytes calldata sig)
        private
    {
        (SignedNonces.Refusal refusal, address signer) =
            SignedNonces.use(nonceUsed, owner, nonce, deadline, _hashTypedDataV4(structHash), sig);
        if (refusal != SignedNonces.Refusal.Ok) {
            if (refusal == SignedNonces.Refusal.Expired) revert OrderBookSignatureExpired(deadline, block.timestamp);
            if (refusal == SignedNonces.Refusal.NonceUsed) revert OrderBookNonceUsed(owner, nonce);
            revert OrderBookBadSignature(owner, signer);
        }
        emit NonceUsed(owner, nonce);
    }

    function _escrowOfWord(uint64 slot, uint256 w) private view returns (uint256) {
        return w.isSell() ? 0 : escrowFor(slot, Side.Buy, w.energy(), w.price());
    }

    function _isBooked(uint64 slot) private view returns (bool) {
        return (_booked[slot >> 8] >> (slot & 255)) & 1 != 0;
    }

    function _requireGateOpen(uint64 slot) private view {
        uint256 closure = _gateClosure(slot);
        if (block.timestamp >= closure) revert OrderBookGateClosed(slot, closure, block.timestamp);
    }

    function _gateClosure(uint64 slot) private view returns (uint256) {
        return Calendar.gateClosure(_genesis, _slotSeconds, _gateClosureSeconds, slot);
    }
}
