// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IImbalanceSettlement} from "./interfaces/IImbalanceSettlement.sol";
import {MeterLedger} from "./base/MeterLedger.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {Mode} from "./lib/MarketTypes.sol";
import {Roles} from "./lib/Roles.sol";
import {SortedAddresses} from "./lib/SortedAddresses.sol";
import {TariffMath} from "./lib/TariffMath.sol";
import {HashChain} from "./lib/HashChain.sol";

/// @title ImbalanceSettlement
/// @notice Settles each slot against the meters and extends the audit digest (see IImbalanceSettlement).
/// Needs the token's COLLECTOR_ROLE (charges) and MARKET_ROLE (pulls the credits from the supply account).
contract ImbalanceSettlement is MeterLedger, IImbalanceSettlement {
    /// @dev What one listed member did in the slot (aggregated from the re-supplied words).
    struct Position {
        uint256 importWh;
        uint256 exportWh;
        uint256 soldWh;
        uint256 boughtWh;
        uint256 readings;
    }

    /// @dev The slot's totals and commitments while it settles.
    struct SlotTotals {
        bytes32 imbalanceHash;
        uint256 credits;
        uint256 collected;
        uint256 creditCount;
        uint256[] creditTransfers;
    }

    /// @dev One member's result in the slot (see the ImbalanceSettled event).
    struct Outcome {
        int256 tradedNetSoldWh;
        uint256 credit;
        uint256 energyCharge;
        uint256 networkCharge;
        uint256 collected;
        int256 bauCost;
    }

    ISettlement public immutable settlement;

    /// @param readingDeadlineSeconds_ How long after delivery readings may still come in.
    constructor(
        ICommunity community_,
        IEnergyToken token_,
        ISettlement settlement_,
        IMeterReadings readings_,
        uint64 readingDeadlineSeconds_
    ) MeterLedger(community_, token_, readings_, readingDeadlineSeconds_) {
        settlement = settlement_;
    }

    /// @inheritdoc IImbalanceSettlement
    function settleImbalance(
        uint64 slot,
        uint32 chunk,
        address[] calldata members,
        uint256[] calldata readingWords,
        uint256[] calldata tradeWords
    ) external {
        _settle(slot, chunk, members, readingWords, tradeWords);
    }

    /// @inheritdoc IImbalanceSettlement
    function settleImbalances(ImbalanceEntry[] calldata entries) external {
        if (entries.length == 0) revert ImbalanceEmptyBatch();
        uint256 freeMemory;
        assembly ("memory-safe") {
            freeMemory := mload(0x40)
        }
        for (uint256 i; i < entries.length; ++i) {
            ImbalanceEntry calldata e = entries[i];
            _settle(e.slot, e.chunk, e.members, e.readingWords, e.tradeWords);
            // Nothing an entry allocated is used after it: the next entry reuses its memory, so
            // that memory (whose cost grows with the square of its size) does not grow with
            // the batch. Solidity zeroes what it allocates, so reused memory is safe.
            assembly ("memory-safe") {
                mstore(0x40, freeMemory)
            }
        }
    }

    /// @dev One (slot, chunk): every check, the members' settlement, the digest link, the credits.
    function _settle(
        uint64 slot,
        uint32 chunk,
        address[] calldata members,
        uint256[] calldata readingWords,
        uint256[] calldata tradeWords
    ) private {
        _advance(slot, chunk);
        // [readingsHash, tradesHash]
        bytes32[2] memory commitments = _checkCommitments(slot, chunk, readingWords, tradeWords);
        SlotTotals memory tot = _settleMembers(slot, chunk, members, _positions(members, readingWords, tradeWords));
        bytes32 digest = _digest(slot, chunk, commitments, tot.imbalanceHash);
        digestAt[slot][chunk] = digest;
        emit SlotDigest(slot, chunk, digest, members.length, readingWords.length);
        _payCredits(tot);
    }

    /// @dev The caller, the order and the slot's readiness; moves the chunk's cursor past `slot`
    /// (effects before the calls that follow: a revert undoes it).
    function _advance(uint64 slot, uint32 chunk) private {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert ImbalanceNotMatcher(msg.sender);
        uint64 next = _advanceCursor(slot, chunk);
        if (slot != next) revert ImbalanceOutOfOrder(chunk, next, slot);
        // Only `settled` is needed here (triaged: docs/security.md).
        // slither-disable-next-line unused-return
        (bool traded,,,) = settlement.clearingOf(slot);
        if (!traded) revert ImbalanceTradesNotSettled(slot);
        _requireReady(slot);
    }

    /// @dev The (slot, chunk)'s link in the audit chain (see IImbalanceSettlement).
    function _digest(uint64 slot, uint32 chunk, bytes32[2] memory commitments, bytes32 imbalanceHash)
        private
        view
        returns (bytes32)
    {
        // Every chunk settles every slot from its first, so the slot before that has no link (zero).
        bytes32 previous = slot == 0 ? bytes32(0) : digestAt[slot - 1][chunk];
        // slither-disable-next-line unused-return
        (, Mode mode, uint256 price, uint256 volumeWh) = settlement.clearingOf(slot);
        return keccak256(
            abi.encode(
                previous, slot, chunk, mode, price, volumeWh, commitments[1], commitments[0], imbalanceHash
            )
        );
    }

    // ----------------------------------------------------------------------------------- checks

    function _requireReady(uint64 slot) private view {
        (bool ready, uint256 deadline) = _readiness(slot);
        if (!ready) revert ImbalanceReadingsPending(slot, deadline);
    }

    /// @dev Close the (slot, chunk)'s readings and check the re-supplied words against both
    /// commitments.
    function _checkCommitments(
        uint64 slot,
        uint32 chunk,
        uint256[] calldata readingWords,
        uint256[] calldata tradeWords
    ) private returns (bytes32[2] memory commitments) {
        (uint256 count, bytes32 readingsHash) = readings.closeSlot(slot, chunk);
        if (count != readingWords.length) revert ImbalanceReadingsMismatch(slot, count, readingWords.length);
        bytes32 h = bytes32(0);
        for (uint256 i; i < readingWords.length; ++i) {
            h = HashChain.link(h, readingWords[i]);
        }
        if (h != readingsHash) revert ImbalanceReadingsMismatch(slot, count, readingWords.length);
        // slither-disable-next-line unused-return
        (bytes32 tradesHash,) = settlement.tradesOf(slot);
        if (keccak256(abi.encodePacked(tradeWords)) != tradesHash) revert ImbalanceTradesMismatch(slot);
        commitments = [readingsHash, tradesHash];
    }

    /// @dev Aggregate readings and trades per listed member. Every reading's member must be listed and
    /// every listed member must have a reading; trades of unlisted members (no reading) are skipped.
    function _positions(address[] calldata members, uint256[] calldata readingWords, uint256[] calldata tradeWords)
        private
        pure
        returns (Position[] memory pos)
    {
        uint256 n = members.length;
        pos = new Position[](n);
        for (uint256 i = 1; i < n; ++i) {
            if (members[i] <= members[i - 1]) revert ImbalanceMembersNotAscending(i);
        }
        address[] memory sorted = members; // one copy, searched once per word below
        for (uint256 k; k < readingWords.length; ++k) {
            uint256 w = readingWords[k];
            address member = address(uint160(w));
            (bool found, uint256 i) = SortedAddresses.find(sorted, member);
            if (!found) revert ImbalanceMemberMissing(member);
            Position memory p = pos[i];
            p.importWh += uint48(w >> 160);
            p.exportWh += uint48(w >> 208);
            p.readings += 1;
        }
        for (uint256 k; k < tradeWords.length; ++k) {
            uint256 w = tradeWords[k];
            (bool found, uint256 i) = SortedAddresses.find(sorted, address(uint160(w)));
            if (!found) continue;
            uint256 filled = uint40(w >> 160);
            if (w >> 255 == 1) pos[i].soldWh += filled;
            else pos[i].boughtWh += filled;
        }
        for (uint256 i; i < n; ++i) {
            if (pos[i].readings == 0) revert ImbalanceMemberWithoutReading(members[i]);
        }
    }

    // ----------------------------------------------------------------------------------- money

    function _settleMembers(uint64 slot, uint32 chunk, address[] calldata members, Position[] memory pos)
        private
        returns (SlotTotals memory tot)
    {
        SlotTerms memory ctx = _slotTerms(slot);
        if (ctx.supply == address(0)) revert ImbalanceNoSupplyAccount();
        if (chunk == 0) {
            // The slot's platform fees count once: chunk 0 opens first and settles every slot.
            // slither-disable-next-line unused-return
            (, uint256 platformFees) = settlement.tradesOf(slot);
            if (platformFees != 0) platformFeesOf[ctx.period] += platformFees;
        }
        tot.creditTransfers = new uint256[](members.length);
        for (uint256 i; i < members.length; ++i) {
            Outcome memory o = _settleMember(ctx, members[i], pos[i], tot);
            // Each figure fits its part of the word: Wh sums of 48-bit readings below 2**64 and of
            // 40-bit fills below 2**127, n€ products of prices below 2**40 and such Wh below 2**128.
            emit ImbalanceSettled(
                slot,
                members[i],
                pos[i].importWh | pos[i].exportWh << 64 | uint256(uint128(int128(o.tradedNetSoldWh))) << 128,
                o.credit | o.energyCharge << 128,
                o.networkCharge | o.collected << 128,
                o.bauCost
            );
            tot.imbalanceHash = keccak256(
                abi.encode(
                    tot.imbalanceHash,
                    members[i],
                    pos[i].importWh,
                    pos[i].exportWh,
                    o.tradedNetSoldWh,
                    o.credit,
                    o.energyCharge,
                    o.networkCharge,
                    o.collected
                )
            );
        }
    }

    /// @dev d = m − s. Quantities are below 2**40 per reading and per order and prices below 2**40,
    /// so no product or sum here comes near 2**255.
    function _settleMember(SlotTerms memory ctx, address member, Position memory p, SlotTotals memory tot)
        private
        returns (Outcome memory o)
    {
        int256 m = int256(p.exportWh) - int256(p.importWh);
        o.tradedNetSoldWh = int256(p.soldWh) - int256(p.boughtWh);
        int256 d = m - o.tradedNetSoldWh;
        if (d >= 0) {
            o.credit = TariffMath.gridExport(ctx.tariff, uint256(d));
            if (o.credit != 0) {
                tot.creditTransfers[tot.creditCount++] = uint160(member) | (o.credit << 160);
                tot.credits += o.credit;
            }
        } else {
            (o.energyCharge, o.networkCharge) = TariffMath.gridImport(ctx.tariff, uint256(-d));
            o.collected = _charge(member, ctx, o.energyCharge, o.networkCharge);
            tot.collected += o.collected;
        }
        o.bauCost = TariffMath.bauCost(ctx.tariff, m);
    }

    /// @dev Energy first (to the supply account), then the grid fee (to the network account).
    function _charge(address member, SlotTerms memory ctx, uint256 energyCharge, uint256 networkCharge)
        private
        returns (uint256)
    {
        uint256[] memory charges = new uint256[](networkCharge == 0 ? 1 : 2);
        charges[0] = uint160(ctx.supply) | (energyCharge << 160);
        if (networkCharge != 0) charges[1] = uint160(ctx.network) | (networkCharge << 160);
        return token.collect(member, charges);
    }

    /// @dev The supply account pays the slot's feed-in credits (after collecting its charges).
    function _payCredits(SlotTotals memory tot) private {
        if (tot.credits == 0) return;
        address supply = community.supplyAccount();
        uint256 balance = token.balanceOf(supply);
        if (balance < tot.credits) revert ImbalanceSupplyUnderfunded(tot.credits, balance);
        uint256[] memory transfers = tot.creditTransfers;
        uint256 count = tot.creditCount;
        assembly ("memory-safe") {
            mstore(transfers, count)
        }
        token.marketPull(supply, tot.credits);
        token.transferBatch(transfers);
    }
}
