// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice What the DSO asks for in a flexibility request.
enum FlexDirection {
    ReduceImport,
    ReduceExport
}

/// @title Flexibility bought by the DSO (market-rules.md, "Flexibility")
/// @notice The DSO publishes a request for a future slot: direction, quantity (Wh), maximum price
/// (n€/Wh) and a gate closure; the request's budget `quantity · maxPrice` is escrowed from the DSO's
/// network account. Members (the community battery too) offer a quantity at a price, one offer each,
/// before the gate closes. After it the matcher submits the acceptance, one value per offer, which the
/// contract checks in one pass against the merit order (price ascending, then offer index; up to the
/// quantity; offers above the maximum are refused when made): a wrong acceptance reverts with a named
/// error. Once the delivered slot's imbalance is settled (its readings are final), the matcher
/// re-supplies the reading words of that slot and of the same slot of day on each of the previous
/// `lookbackDays` days; each day's words must reproduce MeterReadings' commitment. From them the
/// contract computes, per accepted offer, the member's net import (import − export, all its meters)
/// and its baseline: the mean over the most recent `baselineDays` of those days on which the member had
/// a reading, rounded down for ReduceImport and up for ReduceExport. Delivered = baseline − metered
/// (ReduceImport) or metered − baseline (ReduceExport), clipped to [0, accepted]. The member is paid
/// `price · delivered` from the escrow (pay-as-bid) and charged `penalty · (accepted − delivered)` to
/// the network account through EnergyToken.collect (debt if short); the rest of the escrow returns to
/// the network account. A delivery that cannot be measured (no reading in the slot, or no day with a
/// reading in the lookback), or whose member is leaving or has left when the request settles, is
/// neither paid nor penalised. See docs/decisions.md, "Flexibility".
interface IFlexibility {
    /// @notice An offer a member signs (EIP-712 `OfferIntent`, domain "gridshare Flexibility" version
    /// "1") for a relayer to submit with `offerWithSig`. `nonce` is the member's choice, usable once;
    /// the intent is refused after `deadline` (unix seconds).
    struct OfferIntent {
        address member;
        uint256 requestId;
        uint256 quantityWh;
        uint256 price;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Request `requestId` for `slot` was published; `escrow = quantityWh · maxPrice` was taken
    /// from `payer`. `penalty` (n€ per Wh short) is the penalty in force at publication.
    event FlexRequested(
        uint256 indexed requestId,
        uint64 indexed slot,
        FlexDirection direction,
        uint256 quantityWh,
        uint256 maxPrice,
        uint256 gateClosure,
        uint256 penalty,
        address payer,
        uint256 escrow
    );
    /// @notice `member` offered `quantityWh` at `price` (offer `index` of the request).
    event FlexOffered(
        uint256 indexed requestId, uint256 index, address indexed member, uint256 quantityWh, uint256 price
    );
    /// @notice `member`'s signed offer on request `requestId` was relayed by `relayer`; `nonce` is used
    /// up (the offer itself is the FlexOffered event of the same transaction, just before this one).
    event FlexOfferSigned(uint256 indexed requestId, address indexed member, uint256 nonce, address relayer);
    /// @notice The acceptance of a request: `accepted[i]` Wh of offer `i`, `volumeWh` in total.
    event FlexAccepted(uint256 indexed requestId, uint256 volumeWh, uint256[] accepted);
    /// @notice One accepted offer after delivery. Net imports are signed Wh (negative: export);
    /// `measured` is false when there was no reading or no baseline, or the member is leaving or gone
    /// (then delivered, payment and penalty are 0). `collected` is the part of the penalty the balance covered (the rest is debt).
    event FlexDelivered(
        uint256 indexed requestId,
        uint256 index,
        address indexed member,
        uint256 acceptedWh,
        bool measured,
        int256 baselineWh,
        int256 meteredWh,
        uint256 deliveredWh,
        uint256 payment,
        uint256 penalty,
        uint256 collected
    );
    /// @notice The request is closed: `paid` went to members, `refunded` back to the payer,
    /// `penalties` were charged of which `collected` came from balances.
    event FlexSettled(uint256 indexed requestId, uint256 paid, uint256 refunded, uint256 penalties, uint256 collected);
    /// @notice The shortfall penalty (n€ per Wh) for requests published from now on.
    event FlexPenaltySet(uint256 penalty);

    error FlexibilityNotDso(address caller);
    error FlexibilityNotMatcher(address caller);
    error FlexibilityNotMember(address caller);
    /// @notice A quantity of zero, or of 2**40 Wh or more.
    error FlexibilityInvalidQuantity(uint256 quantityWh);
    /// @notice A price or penalty of 2**40 n€/Wh or more.
    error FlexibilityInvalidPrice(uint256 price);
    /// @notice The gate closure must lie after now and no later than the slot's start.
    error FlexibilityInvalidGateClosure(uint256 gateClosure, uint256 slotStart);
    error FlexibilityUnknownRequest(uint256 requestId);
    error FlexibilityGateClosed(uint256 requestId, uint256 gateClosure);
    error FlexibilityGateOpen(uint256 requestId, uint256 gateClosure);
    error FlexibilityAlreadyOffered(uint256 requestId, address member);
    error FlexibilityPriceAboveMax(uint256 price, uint256 maxPrice);
    error FlexibilityTooManyOffers(uint256 requestId, uint256 maxOffers);
    error FlexibilityAlreadyAccepted(uint256 requestId);
    /// @notice The acceptance came after delivery started; the request lapses (settle refunds it).
    error FlexibilityDeliveryStarted(uint256 requestId, uint256 slotStart);
    error FlexibilityAcceptanceLength(uint256 offers, uint256 submitted);
    /// @notice Offer `index` was accepted for more than it offered.
    error FlexibilityOverAccepted(uint256 index);
    /// @notice Offer `index` got Wh although an offer ahead of it in merit order was not fully accepted.
    error FlexibilityNotMeritOrder(uint256 index);
    /// @notice The accepted volume must be min(quantity, offered Wh).
    error FlexibilityWrongVolume(uint256 expected, uint256 submitted);
    error FlexibilityAlreadySettled(uint256 requestId);
    /// @notice The slot's imbalance is not settled yet, so its readings are not final.
    error FlexibilityReadingsPending(uint256 requestId, uint64 slot);
    /// @notice The re-supplied acceptance is not the accepted one.
    error FlexibilityAcceptanceMismatch(uint256 requestId);
    /// @notice `counts` must have one entry for the slot and one per lookback day.
    error FlexibilityCountsLength(uint256 expected, uint256 submitted);
    /// @notice The words given for `slot` do not reproduce MeterReadings' commitment.
    error FlexibilityReadingsMismatch(uint64 slot);
    /// @notice `members` must list the accepted offers by member, strictly ascending (at `index`).
    error FlexibilityMembersNotAscending(uint256 index);
    /// @notice The member list must name exactly the offers with accepted Wh.
    error FlexibilityMembersMismatch(uint256 expected, uint256 submitted);
    error FlexibilityInvalidCalendar(uint64 slotSeconds);
    /// @notice A signed offer relayed after its deadline.
    error FlexibilitySignatureExpired(uint256 deadline, uint256 now_);
    /// @notice The signature of a relayed offer does not recover to its member (`signer`: what it
    /// recovers to, address(0) if nothing).
    error FlexibilityBadSignature(address member, address signer);
    /// @notice The member's nonce was used by an earlier relayed offer.
    error FlexibilityNonceUsed(address member, uint256 nonce);

    /// @notice Publish a request and escrow its budget from the network account. Only the DSO.
    /// @param slot The delivery slot.
    /// @param gateClosure Unix time until which offers are taken (after now, at most the slot's start).
    /// @return requestId The new request's id (0, 1, 2, ...).
    function publishRequest(
        uint64 slot,
        FlexDirection direction,
        uint256 quantityWh,
        uint256 maxPrice,
        uint256 gateClosure
    ) external returns (uint256 requestId);

    /// @notice Offer flexibility for a request. Members only; one offer per member; before the gate.
    function offer(uint256 requestId, uint256 quantityWh, uint256 price) external;

    /// @notice Make the offer `intent.member` signed (EIP-712 `OfferIntent`); anyone may relay it, so
    /// members need no ether. Refused with FlexibilitySignatureExpired after the deadline,
    /// FlexibilityNonceUsed on a replayed nonce, FlexibilityBadSignature unless the member signed;
    /// then the same checks as `offer` for the member. Emits FlexOffered, then FlexOfferSigned.
    function offerWithSig(OfferIntent calldata intent, bytes calldata signature) external;

    /// @notice Whether `member` used `nonce` for a relayed offer.
    function nonceUsed(address member, uint256 nonce) external view returns (bool);

    /// @notice Submit the acceptance (Wh per offer, in offer order). Only the matcher; once; after
    /// the gate closure and before delivery starts.
    function acceptOffers(uint256 requestId, uint256[] calldata accepted) external;

    /// @notice Pay and penalise after delivery. Only the matcher; once; after the slot's imbalance.
    /// @param accepted The acceptance as accepted (empty if the request was never accepted).
    /// @param offerIndexes The indexes of the offers with accepted Wh, ordered by member ascending.
    /// @param words Reading words (see IMeterReadings) of the slot, then of the same slot of day
    /// 1, 2, ..., lookbackDays days earlier, each day's in acceptance order.
    /// @param counts How many of `words` belong to each of those 1 + lookbackDays slots.
    function settleRequest(
        uint256 requestId,
        uint256[] calldata accepted,
        uint256[] calldata offerIndexes,
        uint256[] calldata words,
        uint256[] calldata counts
    ) external;

    /// @notice Set the shortfall penalty (n€ per Wh) for future requests. Only the DSO.
    function setPenalty(uint256 penalty) external;

    /// @notice A request: slot, direction, quantity, max price, gate closure, penalty, payer, and
    /// status (0 open, 1 accepted, 2 settled).
    function requestOf(uint256 requestId)
        external
        view
        returns (
            uint64 slot,
            FlexDirection direction,
            uint256 quantityWh,
            uint256 maxPrice,
            uint256 gateClosure,
            uint256 penalty,
            address payer,
            uint8 status
        );

    /// @notice The request's offers, one word each: `uint160(member) | quantityWh << 160 | price << 200`.
    function offersOf(uint256 requestId) external view returns (uint256[] memory);

    /// @notice Number of requests published.
    function requestCount() external view returns (uint256);

    /// @notice Escrow held for requests not yet settled, in n€ (the contract's token balance).
    function escrowHeld() external view returns (uint256);

    /// @notice The shortfall penalty (n€ per Wh) for requests published from now on.
    function penalty() external view returns (uint256);

    /// @notice Days with a reading that make the baseline (default 5).
    function baselineDays() external view returns (uint64);

    /// @notice How many days back the baseline looks for them (default 10).
    function lookbackDays() external view returns (uint64);

    /// @notice Most offers one request takes.
    function maxOffers() external view returns (uint256);
}
