// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IOrderBook} from "./interfaces/IOrderBook.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {MemberRole, Mode, Tariff} from "./lib/MarketTypes.sol";
import {OrderWord} from "./lib/OrderWord.sol";
import {ClearingCheck} from "./lib/ClearingCheck.sol";
import {Roles} from "./lib/Roles.sol";
import {TariffMath} from "./lib/TariffMath.sol";

/// @title Settlement
/// @notice Verifies each slot's clearing on-chain and pays it (see ISettlement). The book is the
/// slot's direct orders (escrowed in the OrderBook) followed by the signed intents carried in the
/// calldata. Per filled order of `q` Wh at trade price `p` (market-rules.md, "Fees and tariffs"):
///   buyer pays   p*q + (tradeFeeBuy + p2pGridFee)*q  (a direct order from its escrow, the rest
///                refunded; an intent from its balance, covered by balance less debt);
///   seller gets  p*q − tradeFeeSell*q;
///   the DSO fee account gets the trade fees, its network account the p2p grid fee.
/// Intent holders' accounts are written once per slot (what they bought and sold netted) through
/// the token's `settleNet`, with this contract as the pass-through: it holds nothing after a call.
/// Needs the token's MARKET_ROLE.
contract Settlement is EIP712, ISettlement {
    using OrderWord for uint256;

    bytes32 public constant INTENT_TYPEHASH = keccak256(
        "Intent(address owner,uint64 slot,uint8 side,uint256 energyWh,uint256 limitPrice,uint256 epoch,uint256 deadline)"
    );
    /// @dev Bits of an intent's order word that must be clear: the cancelled bit and everything above.
    uint256 private constant INTENT_FREE_BITS = ~((uint256(1) << 241) - 1);
    /// @dev Direct order ids are below 2**64 (the book stores them as uint64); intent ids must be at
    /// or above it, so that book order (direct orders, then intents) is id order.
    uint256 private constant FIRST_INTENT_ID = 1 << 64;
    uint256 private constant DEBIT = 1 << 255;

    /// @dev One storage word per slot.
    struct Clearing {
        bool settled;
        Mode mode;
        uint64 price;
        uint64 volumeWh;
        uint112 platformFees;
    }

    /// @dev Transfers out of a slot's escrow (`uint160(to) | amount << 160`), the direct sellers'
    /// earnings, the `settleNet` entries, and the slot's totals. `escrowedValue` is what direct
    /// buys paid for energy (it moves from the escrow to this contract), `sellFees` the direct
    /// sells' platform fees (paid with the `settleNet` credits).
    struct Payout {
        uint256[] transfers;
        uint256[] sellers;
        uint256[] entries;
        uint256 tradeValue;
        uint256 buyerValue;
        uint256 escrowedValue;
        uint256 sellFees;
        uint256 platformFees;
        uint256 networkFees;
    }

    /// @dev The slot's combined book: entry words (direct orders, then intents), how many are
    /// direct, the intents' ids and SlotSettled's aux words (`deadline | epoch << 64`) and
    /// (pay-as-bid) each sell entry's traded value.
    struct Book {
        Tariff t;
        uint256[] words;
        uint256 direct;
        uint256[] ids;
        uint256[] aux;
        uint256[] sellValue;
        Holders h;
        Clearing c;
        Payout pay;
        uint256[] fills;
        uint256[] pairs;
    }

    /// @dev The intent holders of a batch: role and epoch per listed member, and what their filled
    /// intents earn and cost.
    struct Holders {
        MemberRole[] roles;
        uint256[] epochs;
        uint256[] credit;
        uint256[] cost;
        uint256 platformFees;
        uint256 networkFees;
    }

    ICommunity public immutable community;
    IOrderBook public immutable orderBook;
    IEnergyToken public immutable token;
    uint256 private immutable _maxIntents;
    /// @inheritdoc ISettlement
    uint256 public immutable minOrderWh;

    /// @inheritdoc ISettlement
    uint64 public immutable firstSlot;
    /// @inheritdoc ISettlement
    uint64 public nextSlot;
    mapping(uint64 slot => Clearing) private _clearings;
    mapping(uint64 slot => bytes32) private _tradesHash;

    /// @param community_ The community (members, tariffs, roles, calendar).
    /// @param orderBook_ The book of direct orders and their escrow.
    /// @param token_ The prepaid token; this contract needs its MARKET_ROLE.
    constructor(ICommunity community_, IOrderBook orderBook_, IEnergyToken token_)
        EIP712("gridshare Settlement", "1")
    {
        community = community_;
        orderBook = orderBook_;
        token = token_;
        _maxIntents = orderBook_.maxOrdersPerSlot();
        minOrderWh = orderBook_.minOrderWh();
        firstSlot = community_.currentSlot();
        nextSlot = firstSlot;
    }

    /// @inheritdoc ISettlement
    function settleSlot(
        uint64 slot,
        Mode mode,
        uint256 price,
        IntentBatch calldata batch,
        uint256[] calldata fills,
        uint256[] calldata pairs
    ) external {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert SettlementNotMatcher(msg.sender);
        {
            uint64 next = nextSlot;
            if (slot != next) {
                if (_clearings[slot].settled) revert SettlementAlreadySettled(slot);
                revert SettlementOutOfOrder(next, slot);
            }
        }
        nextSlot = slot + 1;
        Book memory b = _book(slot, batch);
        if (mode != b.t.mode) revert SettlementModeMismatch(slot, b.t.mode, mode);
        if (fills.length != b.words.length) revert SettlementFillsLength(b.words.length, fills.length);
        _checkIntents(slot, batch, b);
        // Prices < 2**40; volume <= 2000 orders * 2**40 Wh; fees < 2000 * 2**80: the casts are exact.
        b.c = Clearing(true, mode, uint64(price), 0, 0);
        b.c.volumeWh = uint64(_verify(b, fills, pairs));
        _payouts(b, fills);
        _intentAccounts(b, batch.intents, fills);
        b.pay.entries = _entries(batch.members, b.h, b.pay);
        // Both sides of every fill carry the same value: what buyers pay, sellers receive.
        assert(b.pay.buyerValue == b.pay.tradeValue);
        b.c.platformFees = uint112(b.pay.platformFees);
        _clearings[slot] = b.c;
        _tradesHash[slot] = _tradesHashOf(b.words, fills);
        (b.fills, b.pairs) = (fills, pairs);
        _emitSettled(slot, b);
        orderBook.closeSlot(slot, b.pay.transfers);
        if (b.pay.entries.length != 0) token.settleNet(b.pay.entries);
    }

    /// @inheritdoc ISettlement
    function revokeIntents() external returns (uint256 epoch) {
        // The epoch lives in Community, beside the member's role (one storage read per holder at
        // settlement); Community is the deployment's own contract, so emitting after it is safe.
        epoch = community.nextIntentEpoch(msg.sender);
        emit IntentsRevoked(msg.sender, epoch);
    }

    /// @inheritdoc ISettlement
    function intentEpoch(address member) external view returns (uint256) {
        return community.intentEpochOf(member);
    }

    /// @inheritdoc ISettlement
    function clearingOf(uint64 slot) external view returns (bool settled, Mode mode, uint256 price, uint256 volumeWh) {
        Clearing storage c = _clearings[slot];
        return (c.settled, c.mode, c.price, c.volumeWh);
    }

    /// @inheritdoc ISettlement
    function tradesOf(uint64 slot) external view returns (bytes32 tradesHash, uint256 platformFees) {
        return (_tradesHash[slot], _clearings[slot].platformFees);
    }

    /// @inheritdoc ISettlement
    function holders(address[] calldata members)
        external
        view
        returns (uint8[] memory roles, uint256[] memory epochs, uint256[] memory spendable)
    {
        uint256 m = members.length;
        MemberRole[] memory memberRoles;
        (memberRoles, epochs) = community.intentHolders(members);
        roles = new uint8[](m);
        spendable = new uint256[](m);
        for (uint256 k; k < m; ++k) {
            roles[k] = uint8(memberRoles[k]);
            spendable[k] = token.spendableOf(members[k]);
        }
    }

    /// @notice The EIP-712 domain separator intents are signed under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ----------------------------------------------------------------------------------- book

    /// @dev The slot's book: its tariff, its stored direct orders, then the intents' order words, and
    /// the intent holders.
    function _book(uint64 slot, IntentBatch calldata batch) private view returns (Book memory b) {
        b.t = community.tariffAt(slot);
        uint256[] memory stored = orderBook.slotBook(slot);
        uint256 direct = stored.length;
        uint256 n = batch.intents.length >> 1;
        uint256[] memory words = new uint256[](direct + n);
        for (uint256 i; i < direct; ++i) {
            words[i] = stored[i];
        }
        for (uint256 i; i < n; ++i) {
            words[direct + i] = batch.intents[i << 1];
        }
        b.words = words;
        b.direct = direct;
        b.h = _holders(batch.members);
    }

    /// @dev Role and epoch of each listed intent holder; the list must be strictly ascending (so no
    /// holder's coverage is counted twice) and every holder a member.
    function _holders(address[] calldata members) private view returns (Holders memory h) {
        uint256 m = members.length;
        (h.roles, h.epochs) = community.intentHolders(members);
        h.credit = new uint256[](m);
        h.cost = new uint256[](m);
        for (uint256 k; k < m; ++k) {
            if (k != 0 && members[k] <= members[k - 1]) revert SettlementMembersNotAscending(k);
            if (h.roles[k] == MemberRole.None) revert SettlementIntentNotMember(members[k]);
        }
    }

    /// @dev Check every intent of the batch against the rulebook and its owner's signature; sets
    /// `b.ids`, their ids (struct hashes), which must be strictly ascending, and `b.aux`, the
    /// terms of each id that the order word does not hold (`deadline | epoch << 64`).
    function _checkIntents(uint64 slot, IntentBatch calldata batch, Book memory b) private view {
        uint256 words = batch.intents.length;
        if (words & 1 != 0 || batch.signatures.length != words || words >> 1 > _maxIntents) {
            revert SettlementBatchMalformed(words, batch.signatures.length, _maxIntents);
        }
        uint256[] memory ids = new uint256[](words >> 1);
        uint256[] memory aux = new uint256[](words >> 1);
        uint256 previous = FIRST_INTENT_ID - 1;
        for (uint256 i; i < ids.length; ++i) {
            (uint256 id, uint256 a) = _checkIntent(i, slot, b.t, batch, b.h);
            if (id <= previous) revert SettlementIntentsNotAscending(i);
            previous = id;
            ids[i] = id;
            aux[i] = a;
        }
        (b.ids, b.aux) = (ids, aux);
    }

    /// @dev Check intent `i` (layout, terms, deadline, role, signature); returns its id and its
    /// event aux word `deadline | epoch << 64` (an epoch moves on by one per revocation, so it
    /// never reaches 2**192).
    function _checkIntent(uint256 i, uint64 slot, Tariff memory t, IntentBatch calldata batch, Holders memory h)
        private
        view
        returns (uint256 id, uint256 eventAux)
    {
        uint256 w = batch.intents[i << 1];
        uint256 aux = batch.intents[(i << 1) | 1];
        uint256 k = uint32(aux >> 64);
        address owner = w.owner();
        if (w & INTENT_FREE_BITS != 0 || aux >> 96 != 0 || k >= h.roles.length || batch.members[k] != owner) {
            revert SettlementIntentMalformed(i);
        }
        _checkTerms(i, w, t);
        uint256 deadline = uint64(aux);
        if (block.timestamp > deadline) revert SettlementIntentExpired(i, deadline, block.timestamp);
        if (w.isSell() && h.roles[k] == MemberRole.Consumer) revert SettlementIntentRoleCannotSell(owner);
        uint256 epoch = h.epochs[k];
        id = _intentId(w, slot, epoch, deadline);
        _checkSigner(i, id, owner, batch.signatures);
        eventAux = deadline | (epoch << 64);
    }

    /// @dev Intent `i`'s compact signature must recover its owner.
    function _checkSigner(uint256 i, uint256 id, address owner, bytes32[] calldata signatures) private view {
        // A failed recovery yields address(0), which is never an owner (members are registered).
        // slither-disable-next-line unused-return
        (address recovered,,) =
            ECDSA.tryRecover(_hashTypedDataV4(bytes32(id)), signatures[i << 1], signatures[(i << 1) | 1]);
        if (recovered != owner) revert SettlementIntentBadSignature(i, owner, recovered);
    }

    /// @dev An intent's id: its EIP-712 struct hash read as an unsigned integer.
    function _intentId(uint256 w, uint64 slot, uint256 epoch, uint256 deadline) private pure returns (uint256) {
        return uint256(
            keccak256(
                abi.encode(INTENT_TYPEHASH, w.owner(), slot, uint8(w.side()), w.energy(), w.price(), epoch, deadline)
            )
        );
    }

    /// @dev The order rules a direct order meets when placed: energy at least the minimum, limit
    /// within the tariff's bounds (retail < 2**40, so an in-bounds limit fits its field).
    function _checkTerms(uint256 i, uint256 w, Tariff memory t) private view {
        uint256 e = w.energy();
        if (e < minOrderWh) revert SettlementIntentEnergy(i, e, minOrderWh);
        uint256 p = w.price();
        if (!TariffMath.inBounds(t, p)) {
            revert SettlementIntentPriceOutOfBounds(i, p, t.feedInPrice, t.retailPrice);
        }
    }

    // ----------------------------------------------------------------------------------- clearing

    /// @dev keccak256 of the packed trade words of the filled orders, in book order.
    function _tradesHashOf(uint256[] memory book, uint256[] calldata fills) private pure returns (bytes32 h) {
        uint256[] memory trades = new uint256[](book.length);
        uint256 count;
        for (uint256 i; i < book.length; ++i) {
            if (fills[i] != 0) trades[count++] = _tradeWord(book[i], fills[i]);
        }
        assembly ("memory-safe") {
            h := keccak256(add(trades, 32), mul(count, 32))
        }
    }

    /// @dev Re-check the submitted clearing with the rulebook; returns the volume and, in pay-as-bid
    /// mode, records each sell entry's traded value in `b.sellValue`.
    function _verify(Book memory b, uint256[] calldata fills, uint256[] calldata pairs)
        private
        pure
        returns (uint256 volume)
    {
        Mode mode = b.c.mode;
        uint256 price = b.c.price;
        if (mode != Mode.PayAsBid && pairs.length != 0) revert SettlementPairInvalid(0, 5);
        if (mode == Mode.Community) {
            if (price != b.t.communityPrice) revert SettlementClearingPrice(b.t.communityPrice, price);
            return ClearingCheck.checkCommunity(b.words, fills, price);
        }
        volume = ClearingCheck.checkWalk(b.words, fills, mode == Mode.Uniform, price);
        if (mode == Mode.PayAsBid) b.sellValue = ClearingCheck.checkPairs(b.words, fills, pairs);
    }

    /// @dev The SlotSettled event (its fields in memory: an event this wide does not fit the stack
    /// with calldata arrays).
    function _emitSettled(uint64 slot, Book memory b) private {
        uint256[] memory intentWords = new uint256[](b.ids.length);
        for (uint256 i; i < intentWords.length; ++i) {
            intentWords[i] = b.words[b.direct + i];
        }
        emit SlotSettled(
            slot,
            b.c.mode,
            b.c.price,
            b.c.volumeWh,
            b.pay.tradeValue,
            b.pay.platformFees,
            b.pay.networkFees,
            b.fills,
            b.pairs,
            intentWords,
            b.ids,
            b.aux
        );
    }

    // ----------------------------------------------------------------------------------- money

    /// @dev What leaves the slot's escrow: each direct buyer's unused escrow, the direct buys' fees
    /// to the DSO's two accounts, and what the direct buys paid for energy to this contract, which
    /// pays every seller (direct or intent) through `settleNet`; and what each direct seller earns.
    function _payouts(Book memory b, uint256[] calldata fills) private view {
        Payout memory pay = b.pay;
        Clearing memory c = b.c;
        Tariff memory t = b.t;
        uint256 direct = b.direct;
        uint256[] memory transfers = new uint256[](direct + 3);
        uint256[] memory sellers = new uint256[](direct);
        uint256 count;
        uint256 sold;
        // Unchecked: prices and fees are < 2**40 and fills <= energy < 2**40, so no product or sum
        // over a slot's orders comes near 2**256; the verified clearing keeps every trade within
        // its limit (no subtraction underflows), and OrderBook.closeSlot's exact escrow equality
        // would reject the payouts if one ever did.
        unchecked {
            for (uint256 i; i < direct; ++i) {
                uint256 w = b.words[i];
                if (w.isCancelled()) continue; // its escrow left with the cancellation
                uint256 f = fills[i];
                if (w.isSell()) {
                    if (f == 0) continue;
                    uint256 value = c.mode == Mode.PayAsBid ? b.sellValue[i] : c.price * f;
                    pay.tradeValue += value;
                    pay.sellFees += t.tradeFeeSell * f;
                    uint256 earned = value - t.tradeFeeSell * f;
                    if (earned != 0) sellers[sold++] = uint160(w) | (earned << 160);
                } else {
                    uint256 refund = _buyerRefund(w, f, c, t);
                    uint256 value = (c.mode == Mode.PayAsBid ? w.price() : c.price) * f;
                    pay.buyerValue += value;
                    pay.escrowedValue += value;
                    pay.platformFees += t.tradeFeeBuy * f;
                    pay.networkFees += t.p2pGridFee * f;
                    if (refund != 0) transfers[count++] = uint160(w) | (refund << 160);
                }
            }
        }
        if (pay.platformFees != 0) transfers[count++] = uint160(community.feeAccount()) | (pay.platformFees << 160);
        if (pay.networkFees != 0) transfers[count++] = uint160(community.networkAccount()) | (pay.networkFees << 160);
        if (pay.escrowedValue != 0) transfers[count++] = uint160(address(this)) | (pay.escrowedValue << 160);
        assembly ("memory-safe") {
            mstore(transfers, count)
            mstore(sellers, sold)
        }
        pay.transfers = transfers;
        pay.sellers = sellers;
        pay.platformFees += pay.sellFees;
    }

    /// @dev What the filled intents earn and cost their holders, and their fees; adds the intents'
    /// share to the slot's totals. Unchecked for the reasons given in `_payouts`.
    function _intentAccounts(Book memory b, uint256[] calldata intents, uint256[] calldata fills) private pure {
        Payout memory pay = b.pay;
        Clearing memory c = b.c;
        Tariff memory t = b.t;
        Holders memory h = b.h;
        unchecked {
            uint256 buyRate = TariffMath.buyRate(t);
            uint256 direct = b.direct;
            for (uint256 i = direct; i < b.words.length; ++i) {
                uint256 f = fills[i];
                if (f == 0) continue;
                uint256 w = b.words[i];
                uint256 k = uint32(intents[((i - direct) << 1) | 1] >> 64);
                if (w.isSell()) {
                    uint256 value = c.mode == Mode.PayAsBid ? b.sellValue[i] : c.price * f;
                    pay.tradeValue += value;
                    h.platformFees += t.tradeFeeSell * f;
                    h.credit[k] += value - t.tradeFeeSell * f;
                } else {
                    uint256 tradePrice = c.mode == Mode.PayAsBid ? w.price() : c.price;
                    pay.buyerValue += tradePrice * f;
                    h.platformFees += t.tradeFeeBuy * f;
                    h.networkFees += t.p2pGridFee * f;
                    h.cost[k] += (tradePrice + buyRate) * f;
                }
            }
        }
        pay.platformFees += h.platformFees;
        pay.networkFees += h.networkFees;
    }

    /// @dev The `settleNet` entries: each holder's net debit (after checking its filled buys are
    /// covered by its balance less its debt), then the holders' net credits, the direct sellers'
    /// earnings and the DSO's two accounts (the intents' fees and the direct sells' fees).
    function _entries(address[] calldata members, Holders memory h, Payout memory pay)
        private
        view
        returns (uint256[] memory entries)
    {
        uint256 m = members.length;
        entries = new uint256[](m + pay.sellers.length + 2);
        uint256 count;
        for (uint256 k; k < m; ++k) {
            uint256 cost = h.cost[k];
            if (cost == 0) continue;
            uint256 available = token.spendableOf(members[k]);
            if (cost > available) revert SettlementIntentUncovered(members[k], cost, available);
            if (cost > h.credit[k]) entries[count++] = uint160(members[k]) | ((cost - h.credit[k]) << 160) | DEBIT;
        }
        for (uint256 k; k < m; ++k) {
            uint256 credit = h.credit[k];
            if (credit > h.cost[k]) entries[count++] = uint160(members[k]) | ((credit - h.cost[k]) << 160);
        }
        for (uint256 k; k < pay.sellers.length; ++k) {
            entries[count++] = pay.sellers[k];
        }
        uint256 platformFees = h.platformFees + pay.sellFees;
        if (platformFees != 0) entries[count++] = uint160(community.feeAccount()) | (platformFees << 160);
        if (h.networkFees != 0) entries[count++] = uint160(community.networkAccount()) | (h.networkFees << 160);
        assembly ("memory-safe") {
            mstore(entries, count)
        }
    }

    /// @dev A filled order as the imbalance settlement needs it (see ISettlement.tradesOf).
    function _tradeWord(uint256 w, uint256 f) private pure returns (uint256) {
        return uint160(w.owner()) | (f << 160) | (w.isSell() ? 1 << 255 : 0);
    }

    /// @dev A buy order's unused escrow: escrow − (trade price + buy fees) × filled. Unchecked for
    /// the reasons given in `_payouts` (a verified fill never trades above its limit).
    function _buyerRefund(uint256 w, uint256 f, Clearing memory c, Tariff memory t) private pure returns (uint256) {
        unchecked {
            uint256 limit = w.price();
            uint256 buyRate = TariffMath.buyRate(t);
            uint256 tradePrice = c.mode == Mode.PayAsBid ? limit : c.price;
            return TariffMath.buyEscrow(t, w.energy(), limit) - (tradePrice + buyRate) * f;
        }
    }
}
