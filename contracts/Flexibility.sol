// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IFlexibility, FlexDirection} from "./interfaces/IFlexibility.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {IImbalanceSettlement} from "./interfaces/IImbalanceSettlement.sol";
import {MemberRole} from "./lib/MarketTypes.sol";
import {CommunityClock} from "./base/CommunityClock.sol";
import {Roles} from "./lib/Roles.sol";
import {SignedNonces} from "./lib/SignedNonces.sol";
import {SortedAddresses} from "./lib/SortedAddresses.sol";
import {HashChain} from "./lib/HashChain.sol";

/// @title Flexibility
/// @notice DSO flexibility requests, member offers, merit-order acceptance checked on-chain, and
/// payment and shortfall penalty against a meter baseline (see IFlexibility).
/// Needs the token's MARKET_ROLE (escrow from the network account) and COLLECTOR_ROLE (penalties).
/// Members without ether offer through a relayer: an EIP-712 `OfferIntent` (domain
/// "gridshare Flexibility", version "1") with a nonce and a deadline (SignedNonces).
contract Flexibility is EIP712, CommunityClock, IFlexibility {
    /// @dev Two storage words per request.
    struct Request {
        uint64 slot;
        uint64 gateClosure;
        uint40 quantityWh;
        uint40 maxPrice;
        FlexDirection direction;
        uint8 status;
        address payer;
        uint40 penalty;
        bytes32 acceptanceHash;
    }

    /// @dev Per accepted member: net import per segment (0: the slot, d: d days earlier).
    struct Metered {
        int256[] net;
        bool[] has;
    }

    /// @dev Totals of one settlement.
    struct Totals {
        uint256 paid;
        uint256 penalties;
        uint256 collected;
        uint256 count;
        uint256[] transfers;
    }

    uint8 private constant OPEN = 0;
    uint8 private constant ACCEPTED = 1;
    uint8 private constant SETTLED = 2;
    uint256 private constant LIMIT = 1 << 40;
    /// @notice EIP-712 type hash of `OfferIntent` (see IFlexibility.offerWithSig).
    bytes32 public constant OFFER_INTENT_TYPEHASH = keccak256(
        "OfferIntent(address member,uint256 requestId,uint256 quantityWh,uint256 price,uint256 nonce,uint256 deadline)"
    );

    ICommunity public immutable community;
    IEnergyToken public immutable token;
    IMeterReadings public immutable readings;
    IImbalanceSettlement public immutable imbalance;
    /// @inheritdoc IFlexibility
    uint64 public immutable baselineDays;
    /// @inheritdoc IFlexibility
    uint64 public immutable lookbackDays;
    /// @inheritdoc IFlexibility
    uint256 public immutable maxOffers;
    uint64 private immutable _slotsPerDay;

    /// @inheritdoc IFlexibility
    uint256 public penalty;
    /// @inheritdoc IFlexibility
    uint256 public escrowHeld;

    Request[] private _requests;
    mapping(uint256 requestId => uint256[]) private _offers;
    mapping(uint256 requestId => mapping(address member => bool)) private _offered;
    /// @inheritdoc IFlexibility
    mapping(address member => mapping(uint256 nonce => bool)) public nonceUsed;

    /// @param penalty_ Initial shortfall penalty, n€ per Wh.
    /// @param baselineDays_ Days with a reading that make the baseline (5).
    /// @param lookbackDays_ How many days back the baseline looks (10).
    /// @param maxOffers_ Most offers per request (bounds the settlement's gas).
    constructor(
        ICommunity community_,
        IEnergyToken token_,
        IMeterReadings readings_,
        IImbalanceSettlement imbalance_,
        uint256 penalty_,
        uint64 baselineDays_,
        uint64 lookbackDays_,
        uint256 maxOffers_
    ) EIP712("gridshare Flexibility", "1") CommunityClock(community_) {
        community = community_;
        token = token_;
        readings = readings_;
        imbalance = imbalance_;
        if (86_400 % _slotSeconds != 0) revert FlexibilityInvalidCalendar(_slotSeconds);
        _slotsPerDay = uint64(86_400 / _slotSeconds);
        if (penalty_ >= LIMIT) revert FlexibilityInvalidPrice(penalty_);
        penalty = penalty_;
        baselineDays = baselineDays_;
        lookbackDays = lookbackDays_;
        maxOffers = maxOffers_;
        emit FlexPenaltySet(penalty_);
    }

    // ----------------------------------------------------------------------------- requests

    /// @inheritdoc IFlexibility
    function setPenalty(uint256 penalty_) external {
        if (!community.hasRole(Roles.DSO, msg.sender)) revert FlexibilityNotDso(msg.sender);
        if (penalty_ >= LIMIT) revert FlexibilityInvalidPrice(penalty_);
        penalty = penalty_;
        emit FlexPenaltySet(penalty_);
    }

    /// @inheritdoc IFlexibility
    function publishRequest(
        uint64 slot,
        FlexDirection direction,
        uint256 quantityWh,
        uint256 maxPrice,
        uint256 gateClosure
    ) external returns (uint256 requestId) {
        if (!community.hasRole(Roles.DSO, msg.sender)) revert FlexibilityNotDso(msg.sender);
        if (quantityWh == 0 || quantityWh >= LIMIT) revert FlexibilityInvalidQuantity(quantityWh);
        if (maxPrice >= LIMIT) revert FlexibilityInvalidPrice(maxPrice);
        uint256 start = _slotStart(slot);
        if (gateClosure <= block.timestamp || gateClosure > start) {
            revert FlexibilityInvalidGateClosure(gateClosure, start);
        }
        address payer = community.networkAccount();
        uint256 escrow = quantityWh * maxPrice;
        requestId = _requests.length;
        _requests.push(
            Request(
                slot,
                uint64(gateClosure),
                uint40(quantityWh),
                uint40(maxPrice),
                direction,
                OPEN,
                payer,
                uint40(penalty),
                bytes32(0)
            )
        );
        escrowHeld += escrow;
        emit FlexRequested(requestId, slot, direction, quantityWh, maxPrice, gateClosure, penalty, payer, escrow);
        if (escrow != 0) token.marketPull(payer, escrow);
    }

    /// @inheritdoc IFlexibility
    function offer(uint256 requestId, uint256 quantityWh, uint256 price) external {
        _offer(msg.sender, requestId, quantityWh, price);
    }

    /// @inheritdoc IFlexibility
    function offerWithSig(OfferIntent calldata intent, bytes calldata signature) external {
        bytes32 structHash = keccak256(
            abi.encode(
                OFFER_INTENT_TYPEHASH,
                intent.member,
                intent.requestId,
                intent.quantityWh,
                intent.price,
                intent.nonce,
                intent.deadline
            )
        );
        (SignedNonces.Refusal refusal, address signer) = SignedNonces.use(
            nonceUsed, intent.member, intent.nonce, intent.deadline, _hashTypedDataV4(structHash), signature
        );
        if (refusal == SignedNonces.Refusal.Expired) {
            revert FlexibilitySignatureExpired(intent.deadline, block.timestamp);
        }
        if (refusal == SignedNonces.Refusal.NonceUsed) revert FlexibilityNonceUsed(intent.member, intent.nonce);
        if (refusal == SignedNonces.Refusal.BadSignature) revert FlexibilityBadSignature(intent.member, signer);
        _offer(intent.member, intent.requestId, intent.quantityWh, intent.price);
        emit FlexOfferSigned(intent.requestId, intent.member, intent.nonce, msg.sender);
    }

    /// @notice The EIP-712 domain separator for signed offers.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev The checks and bookkeeping of one offer by `member` (direct or relayed).
    function _offer(address member, uint256 requestId, uint256 quantityWh, uint256 price) private {
        Request storage r = _request(requestId);
        if (community.memberRole(member) == MemberRole.None) revert FlexibilityNotMember(member);
        if (block.timestamp >= r.gateClosure) revert FlexibilityGateClosed(requestId, r.gateClosure);
        if (quantityWh == 0 || quantityWh >= LIMIT) revert FlexibilityInvalidQuantity(quantityWh);
        if (price > r.maxPrice) revert FlexibilityPriceAboveMax(price, r.maxPrice);
        if (_offered[requestId][member]) revert FlexibilityAlreadyOffered(requestId, member);
        uint256[] storage offers = _offers[requestId];
        if (offers.length >= maxOffers) revert FlexibilityTooManyOffers(requestId, maxOffers);
        _offered[requestId][member] = true;
        offers.push(uint160(member) | (quantityWh << 160) | (price << 200));
        emit FlexOffered(requestId, offers.length - 1, member, quantityWh, price);
    }

    // --------------------------------------------------------------------------- acceptance

    /// @inheritdoc IFlexibility
    function acceptOffers(uint256 requestId, uint256[] calldata accepted) external {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert FlexibilityNotMatcher(msg.sender);
        Request storage r = _request(requestId);
        if (r.status != OPEN) revert FlexibilityAlreadyAccepted(requestId);
        if (block.timestamp < r.gateClosure) revert FlexibilityGateOpen(requestId, r.gateClosure);
        uint256 start = _slotStart(r.slot);
        if (block.timestamp >= start) revert FlexibilityDeliveryStarted(requestId, start);
        uint256 volume = _verifyAcceptance(_offers[requestId], r.quantityWh, accepted);
        r.status = ACCEPTED;
        r.acceptanceHash = keccak256(abi.encodePacked(accepted));
        emit FlexAccepted(requestId, volume, accepted);
    }

    /// @dev One pass, no sorting (every stored offer is at or below the maximum): nothing over-accepted;
    /// `marginal` = the best offer in merit order (price, index) not fully accepted; no offer behind it
    /// got anything; the volume is min(quantity, offered). Together: exactly the merit-order result.
    function _verifyAcceptance(uint256[] storage offers, uint256 quantityWh, uint256[] calldata accepted)
        private
        view
        returns (uint256 volume)
    {
        uint256 n = offers.length;
        if (accepted.length != n) revert FlexibilityAcceptanceLength(n, accepted.length);
        uint256[] memory words = offers;
        uint256 offered = 0;
        uint256 marginal = type(uint256).max; // (price << 40 | index) of the best not-full offer
        for (uint256 i; i < n; ++i) {
            uint256 q = uint40(words[i] >> 160);
            if (accepted[i] > q) revert FlexibilityOverAccepted(i);
            offered += q;
            volume += accepted[i];
            if (accepted[i] < q) {
                uint256 key = (uint256(uint40(words[i] >> 200)) << 40) | i;
                if (key < marginal) marginal = key;
            }
        }
        for (uint256 i; i < n; ++i) {
            if (accepted[i] != 0 && ((uint256(uint40(words[i] >> 200)) << 40) | i) > marginal) {
                revert FlexibilityNotMeritOrder(i);
            }
        }
        uint256 expected = offered < quantityWh ? offered : quantityWh;
        if (volume != expected) revert FlexibilityWrongVolume(expected, volume);
    }

    // ---------------------------------------------------------------------------- settlement

    /// @inheritdoc IFlexibility
    function settleRequest(
        uint256 requestId,
        uint256[] calldata accepted,
        uint256[] calldata offerIndexes,
        uint256[] calldata words,
        uint256[] calldata counts
    ) external {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert FlexibilityNotMatcher(msg.sender);
        Request storage r = _request(requestId);
        if (r.status == SETTLED) revert FlexibilityAlreadySettled(requestId);
        if (imbalance.nextSlot() <= r.slot) revert FlexibilityReadingsPending(requestId, r.slot);
        uint256 escrow = uint256(r.quantityWh) * r.maxPrice;
        bool wasAccepted = r.status == ACCEPTED;
        if (wasAccepted && keccak256(abi.encodePacked(accepted)) != r.acceptanceHash) {
            revert FlexibilityAcceptanceMismatch(requestId);
        }
        if (!wasAccepted && accepted.length != 0) revert FlexibilityAcceptanceMismatch(requestId);
        r.status = SETTLED;
        escrowHeld -= escrow;

        Totals memory tot = Totals(0, 0, 0, 0, new uint256[](0));
        if (wasAccepted) tot = _settleAccepted(requestId, r, accepted, offerIndexes, words, counts);
        _payOut(requestId, r.payer, escrow, tot);
    }

    function _settleAccepted(
        uint256 requestId,
        Request storage r,
        uint256[] calldata accepted,
        uint256[] calldata offerIndexes,
        uint256[] calldata words,
        uint256[] calldata counts
    ) private returns (Totals memory tot) {
        uint256[] memory offers = _offers[requestId];
        address[] memory members = _acceptedMembers(offers, accepted, offerIndexes);
        if (members.length == 0) return tot;
        Metered[] memory m = _meter(r.slot, members, words, counts);
        tot = _deliver(requestId, r, offers, accepted, offerIndexes, m);
    }

    /// @dev Payments to members and the rest of the escrow back to the payer, in one batch.
    function _payOut(uint256 requestId, address payer, uint256 escrow, Totals memory tot) private {
        uint256 refunded = escrow - tot.paid;
        emit FlexSettled(requestId, tot.paid, refunded, tot.penalties, tot.collected);
        uint256[] memory transfers = tot.transfers;
        uint256 count = tot.count;
        if (refunded != 0) {
            if (transfers.length == 0) transfers = new uint256[](1);
            transfers[count++] = uint160(payer) | (refunded << 160);
        }
        assembly ("memory-safe") {
            mstore(transfers, count)
        }
        if (count != 0) token.transferBatch(transfers);
    }

    /// @dev The members of the accepted offers along `offerIndexes`, checked strictly ascending
    /// (so distinct) and exactly the offers with accepted Wh.
    function _acceptedMembers(uint256[] memory offers, uint256[] calldata accepted, uint256[] calldata offerIndexes)
        private
        pure
        returns (address[] memory members)
    {
        uint256 k = 0;
        for (uint256 i; i < accepted.length; ++i) {
            if (accepted[i] != 0) ++k;
        }
        if (offerIndexes.length != k) revert FlexibilityMembersMismatch(k, offerIndexes.length);
        members = new address[](k);
        for (uint256 j; j < k; ++j) {
            uint256 i = offerIndexes[j];
            if (i >= offers.length || accepted[i] == 0) revert FlexibilityMembersMismatch(k, offerIndexes.length);
            members[j] = address(uint160(offers[i]));
            if (j != 0 && members[j] <= members[j - 1]) revert FlexibilityMembersNotAscending(j);
        }
    }

    /// @dev Net import per accepted member in the slot and the same slot of each lookback day, from
    /// re-supplied words checked against MeterReadings' commitments (final: the imbalance is settled).
    function _meter(uint64 slot, address[] memory members, uint256[] calldata words, uint256[] calldata counts)
        private
        view
        returns (Metered[] memory m)
    {
        uint256 segments = uint256(lookbackDays) + 1;
        if (counts.length != segments) revert FlexibilityCountsLength(segments, counts.length);
        m = new Metered[](members.length);
        for (uint256 j; j < members.length; ++j) {
            m[j].net = new int256[](segments);
            m[j].has = new bool[](segments);
        }
        uint256 at = 0;
        for (uint256 d; d < segments; ++d) {
            uint256 back = d * _slotsPerDay;
            uint64 s = back > slot ? 0 : uint64(slot - back);
            (uint256 count, bytes32 commitment) = back > slot ? (0, bytes32(0)) : readings.slotReadings(s);
            if (counts[d] != count || at + count > words.length) revert FlexibilityReadingsMismatch(s);
            if (_meterSegment(m, members, words[at:at + count], d) != commitment) {
                revert FlexibilityReadingsMismatch(s);
            }
            at += count;
        }
        if (at != words.length) revert FlexibilityReadingsMismatch(slot);
    }

    /// @dev One accepted offer's result (see the FlexDelivered event).
    struct Outcome {
        uint256 index;
        address member;
        bool measured;
        int256 baseline;
        uint256 delivered;
        uint256 payment;
        uint256 shortfall;
        uint256 collected;
    }

    /// @dev Fold one slot's words into the members' net imports (segment `d`); returns their hash.
    function _meterSegment(Metered[] memory m, address[] memory members, uint256[] calldata words, uint256 d)
        private
        pure
        returns (bytes32 h)
    {
        for (uint256 k; k < words.length; ++k) {
            uint256 w = words[k];
            h = HashChain.link(h, w);
            (bool found, uint256 j) = SortedAddresses.find(members, address(uint160(w)));
            if (found) {
                m[j].net[d] += int256(uint256(uint48(w >> 160))) - int256(uint256(uint48(w >> 208)));
                m[j].has[d] = true;
            }
        }
    }

    /// @dev Pay and penalise each accepted offer (in member order) from its metering.
    function _deliver(
        uint256 requestId,
        Request storage r,
        uint256[] memory offers,
        uint256[] calldata accepted,
        uint256[] calldata offerIndexes,
        Metered[] memory m
    ) private returns (Totals memory tot) {
        tot.transfers = new uint256[](offerIndexes.length + 1);
        for (uint256 j; j < offerIndexes.length; ++j) {
            Outcome memory o = _outcome(r, offers, accepted, offerIndexes[j], m[j]);
            if (o.payment != 0) {
                tot.transfers[tot.count++] = uint160(o.member) | (o.payment << 160);
                tot.paid += o.payment;
            }
            if (o.shortfall != 0) {
                uint256[] memory charge = new uint256[](1);
                charge[0] = uint160(r.payer) | (o.shortfall << 160);
                o.collected = token.collect(o.member, charge);
                tot.penalties += o.shortfall;
                tot.collected += o.collected;
            }
            emit FlexDelivered(
                requestId,
                o.index,
                o.member,
                accepted[o.index],
                o.measured,
                o.baseline,
                m[j].net[0],
                o.delivered,
                o.payment,
                o.shortfall,
                o.collected
            );
        }
    }

    /// @dev Delivered Wh clipped to [0, accepted]; payment `price · delivered`; penalty
    /// `penalty · (accepted − delivered)`; nothing when the delivery cannot be measured.
    function _outcome(
        Request storage r,
        uint256[] memory offers,
        uint256[] calldata accepted,
        uint256 i,
        Metered memory m
    ) private view returns (Outcome memory o) {
        o.index = i;
        o.member = address(uint160(offers[i]));
        // A member leaving or gone is neither paid nor penalised (its obligations end with its exit).
        if (community.memberRole(o.member) == MemberRole.None) return o;
        FlexDirection direction = r.direction;
        (o.measured, o.baseline) = _baseline(m, direction);
        o.measured = o.measured && m.has[0];
        if (!o.measured) return o;
        int256 raw = direction == FlexDirection.ReduceImport ? o.baseline - m.net[0] : m.net[0] - o.baseline;
        uint256 acc = accepted[i];
        o.delivered = raw <= 0 ? 0 : (uint256(raw) > acc ? acc : uint256(raw));
        o.payment = uint256(uint40(offers[i] >> 200)) * o.delivered;
        o.shortfall = uint256(r.penalty) * (acc - o.delivered);
    }

    /// @dev Mean net import over the most recent `baselineDays` lookback days with a reading, rounded
    /// down (ReduceImport) or up (ReduceExport); not measured without any such day.
    function _baseline(Metered memory m, FlexDirection direction) private view returns (bool, int256) {
        int256 sum = 0;
        uint256 n = 0;
        for (uint256 d = 1; d < m.net.length && n < baselineDays; ++d) {
            if (m.has[d]) {
                sum += m.net[d];
                ++n;
            }
        }
        if (n == 0) return (false, 0);
        int256 q = sum / int256(n); // truncates toward zero
        if (sum % int256(n) != 0) {
            if (direction == FlexDirection.ReduceImport && sum < 0) q -= 1;
            else if (direction == FlexDirection.ReduceExport && sum > 0) q += 1;
        }
        return (true, q);
    }

    function _request(uint256 requestId) private view returns (Request storage) {
        if (requestId >= _requests.length) revert FlexibilityUnknownRequest(requestId);
        return _requests[requestId];
    }

    // --------------------------------------------------------------------------------- views

    /// @inheritdoc IFlexibility
    function requestOf(uint256 requestId)
        external
        view
        returns (
            uint64 slot,
            FlexDirection direction,
            uint256 quantityWh,
            uint256 maxPrice,
            uint256 gateClosure,
            uint256 penalty_,
            address payer,
            uint8 status
        )
    {
        Request storage r = _request(requestId);
        return (r.slot, r.direction, r.quantityWh, r.maxPrice, r.gateClosure, r.penalty, r.payer, r.status);
    }

    /// @inheritdoc IFlexibility
    function offersOf(uint256 requestId) external view returns (uint256[] memory) {
        _request(requestId);
        return _offers[requestId];
    }

    /// @inheritdoc IFlexibility
    function requestCount() external view returns (uint256) {
        return _requests.length;
    }
}
