// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ISharingSettlement} from "./interfaces/ISharingSettlement.sol";
import {MeterLedger} from "./base/MeterLedger.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {SharingKey, Tariff} from "./lib/MarketTypes.sol";
import {Roles} from "./lib/Roles.sol";
import {SortedAddresses} from "./lib/SortedAddresses.sol";
import {TariffMath} from "./lib/TariffMath.sol";
import {HashChain} from "./lib/HashChain.sol";

/// @title SharingSettlement
/// @notice Settles the `sharing` mode's slots from the meters by the allocation key (see
/// ISharingSettlement). Needs the token's COLLECTOR_ROLE (charges members who cannot pay in full) and
/// MARKET_ROLE (settleNet: the paying members' debits, the supply account's net and the credits), and
/// MeterReadings bound to it (it closes the slots).
contract SharingSettlement is MeterLedger, ISharingSettlement {
    uint256 private constant PPM = 1_000_000;
    uint256 private constant W96 = (1 << 96) - 1;

    /// @dev One chunk's members in a slot, as the rule sees them, a word per member (arrays aligned
    /// with `members`): `flows[i]` = importWh | exportWh << 96, the sums of the member's readings
    /// (48-bit figures over fewer than 2**32 words: each below 2**80); `rule[i]` = C_i | G_i << 96 |
    /// sharePpm << 192 (C_i, G_i at most the flows; shares below 2**20).
    struct Chunk {
        uint256[] flows;
        uint256[] rule;
        bytes32 readingsHash;
    }

    /// @dev The community totals of a slot, and where the chunk starts among consumers / producers.
    struct Totals {
        uint256 e;
        uint256 d;
        uint256 a;
        uint256 sumFloorC;
        uint256 sumFloorR;
        uint256 consumers;
        uint256 producers;
    }

    /// @dev A multi-chunk slot's tally so far: the totals chunk 0 named, the running sums, the
    /// consumers and producers counted, the chunk that comes next, and whether it is complete.
    struct Tally {
        uint256 claimed;
        uint128 e;
        uint128 d;
        uint128 a;
        uint128 sumFloorC;
        uint128 sumFloorR;
        uint32 consumers;
        uint32 producers;
        uint32 nextChunk;
        bool complete;
    }

    /// @dev One member's row: the SharingSettled event's figures, in order.
    struct Row {
        uint256 importWh;
        uint256 exportWh;
        uint256 bigC;
        uint256 bigG;
        uint256 allotment;
        uint256 allocated;
        uint256 credited;
        uint256 charged;
        uint256 paid;
        uint256 collected;
        int256 bauCost;
    }

    /// @dev What the members of one (slot, chunk) share while they settle.
    struct Context {
        SlotTerms terms;
        uint256 consumerIndex;
        uint256 producerIndex;
        uint256 fees;
        bytes32 rowsHash;
        // What moves through this contract in one EnergyToken.settleNet call after the members:
        // debits (consumers who can pay in full) and credits (producers), then the accounts' net.
        uint256[] debits;
        uint256 debitCount;
        uint256[] credits;
        uint256 creditCount;
        uint256 toSupply;
        uint256 fromSupply;
        uint256 toNetwork;
        uint256 toFee;
    }

    /// @notice The key (deploy-time): Dynamic or Static.
    SharingKey public immutable key;

    mapping(uint64 slot => Tally) private _tallies;
    /// @dev Per (slot, chunk) of a multi-chunk slot, what the tally counted: keccak256(abi.encode(before,
    /// readingsHash, members, flows, rule)), `before` = consumers | producers << 32 in the chunks before
    /// it. `settleTallied` takes these figures back as calldata instead of the words and terms.
    mapping(uint64 slot => mapping(uint32 chunk => bytes32)) private _tallied;

    /// @param key_ The allocation key.
    /// @param readingDeadlineSeconds_ How long after delivery readings may still come in.
    constructor(
        ICommunity community_,
        IEnergyToken token_,
        IMeterReadings readings_,
        SharingKey key_,
        uint64 readingDeadlineSeconds_
    ) MeterLedger(community_, token_, readings_, readingDeadlineSeconds_) {
        key = key_;
    }

    // ----------------------------------------------------------------------------------- tally

    /// @inheritdoc ISharingSettlement
    function tally(
        uint64 slot, uint32 chunk, uint256 totals, address[] calldata members, uint256[] calldata readingWords
    ) external {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert SharingNotMatcher(msg.sender);
        uint32 chunks = chunksIn(slot);
        Tally memory t = _tallies[slot];
        if (chunks < 2 || t.complete) revert SharingTallyNotNeeded(slot);
        if (chunk == 0) {
            t = Tally(totals, 0, 0, 0, 0, 0, 0, 0, 0, false);
        } else {
            if (chunk != t.nextChunk) revert SharingTallyOutOfOrder(slot, t.nextChunk, chunk);
            if (totals != t.claimed) revert SharingTallyTotalsChanged(slot, t.claimed, totals);
        }
        if (slot < nextSlotOf(chunk)) revert SharingOutOfOrder(chunk, nextSlotOf(chunk), slot);
        _requireReady(slot);
        Chunk memory c = _load(slot, chunk, members, readingWords);
        uint256 before = uint256(t.consumers) | uint256(t.producers) << 32;
        _tallied[slot][chunk] = keccak256(abi.encode(before, c.readingsHash, members, c.flows, c.rule));
        _count(t, c);
        emit SharingTallied(slot, chunk, totals);
        if (chunk + 1 == chunks) {
            // Every chunk counted: the named totals must be the counted ones.
            if (key == SharingKey.Dynamic) t.a = t.e < t.d ? t.e : t.d;
            uint256 counted = uint256(t.e) | uint256(t.d) << 64 | uint256(t.a) << 128;
            if (t.e >> 64 != 0 || t.d >> 64 != 0 || t.a >> 64 != 0 || counted != t.claimed) {
                revert SharingTallyTotalsMismatch(slot, t.claimed, counted);
            }
            t.complete = true;
        } else {
            t.nextChunk = chunk + 1;
        }
        _tallies[slot] = t;
        _close(slot, chunk, c.readingsHash);
    }

    /// @dev Add a chunk to the tally: its members' G_i and C_i, and the rule's sums computed with the
    /// named totals E, D, A (checked once every chunk is in): Σ floor(C_i·E/D) (dynamic, E < D),
    /// Σ min(floor(E·s_i/PPM), C_i) (static: A itself) and Σ floor(A·G_j/E).
    function _count(Tally memory t, Chunk memory c) private view {
        uint256 e = uint64(t.claimed);
        uint256 d = uint64(t.claimed >> 64);
        uint256 a = uint64(t.claimed >> 128);
        bool dynamic = key == SharingKey.Dynamic;
        uint256 n = c.rule.length;
        for (uint256 i; i < n; ++i) {
            uint256 x = c.rule[i];
            uint256 g = x >> 96 & W96;
            uint256 cc = x & W96;
            // Below 2**80 a member and 2**32 members: no sum comes near 2**128.
            t.e += uint128(g);
            t.d += uint128(cc);
            if (cc != 0) ++t.consumers;
            if (g != 0) ++t.producers;
            if (dynamic) {
                if (e < d) t.sumFloorC += uint128(cc * e / d);
            } else {
                uint256 allot = e * (x >> 192) / PPM;
                t.a += uint128(allot < cc ? allot : cc);
            }
            if (e != 0) t.sumFloorR += uint128(a * g / e);
        }
    }

    /// @inheritdoc ISharingSettlement
    function tallyOf(uint64 slot) external view returns (uint256 claimed, uint32 nextChunk, bool complete) {
        Tally storage t = _tallies[slot];
        return (t.claimed, t.nextChunk, t.complete);
    }

    // ----------------------------------------------------------------------------------- settle

    /// @inheritdoc ISharingSettlement
    function settle(uint64 slot, uint32 chunk, address[] calldata members, uint256[] calldata readingWords)
        external
    {
        if (_advance(slot, chunk) > 1) revert SharingSettleFromTally(slot);
        _requireReady(slot);
        Chunk memory c = _load(slot, chunk, members, readingWords);
        _close(slot, chunk, c.readingsHash);
        _settleChunk(slot, chunk, c, _totalsOf(c), members);
    }

    /// @inheritdoc ISharingSettlement
    function settleTallied(
        uint64 slot,
        uint32 chunk,
        uint256 before,
        bytes32 readingsHash,
        address[] calldata members,
        uint256[] calldata flows,
        uint256[] calldata rule
    ) external {
        if (_advance(slot, chunk) < 2) revert SharingTallyNotNeeded(slot);
        Totals memory tot = _storedTotals(slot);
        if (keccak256(abi.encode(before, readingsHash, members, flows, rule)) != _tallied[slot][chunk]) {
            revert SharingTallyMismatch(slot, chunk);
        }
        tot.consumers = uint32(before);
        tot.producers = uint32(before >> 32);
        _settleChunk(slot, chunk, Chunk(flows, rule, readingsHash), tot, members);
    }

    /// @dev The checks both settle functions start with: the matcher, the chunk's next slot, a chunk
    /// open in the slot; the number of chunks in the slot.
    function _advance(uint64 slot, uint32 chunk) private returns (uint32 chunks) {
        if (!community.hasRole(Roles.MATCHER, msg.sender)) revert SharingNotMatcher(msg.sender);
        uint64 next = _advanceCursor(slot, chunk);
        if (slot != next) revert SharingOutOfOrder(chunk, next, slot);
        chunks = chunksIn(slot);
        if (chunk >= chunks) revert SharingUnknownChunk(slot, chunk);
    }

    /// @dev Settle a (slot, chunk)'s members from its figures and the slot's totals.
    function _settleChunk(uint64 slot, uint32 chunk, Chunk memory c, Totals memory tot, address[] calldata members)
        private
    {
        Context memory ctx = _context(slot, members.length);
        ctx.consumerIndex = tot.consumers;
        ctx.producerIndex = tot.producers;
        for (uint256 i; i < members.length; ++i) {
            _settleMember(ctx, tot, c, i, members[i]);
        }
        _record(ctx, chunk, tot, c.readingsHash, members.length);
        _transfer(ctx);
    }

    /// @dev The period's counters and the chunk's digest link.
    function _record(Context memory ctx, uint32 chunk, Totals memory tot, bytes32 readingsHash, uint256 n) private {
        if (ctx.fees != 0) platformFeesOf[ctx.terms.period] += ctx.fees;
        uint64 slot = ctx.terms.slot;
        bytes32 digest = keccak256(
            abi.encode(
                slot == 0 ? bytes32(0) : digestAt[slot - 1][chunk],
                slot,
                chunk,
                key,
                tot.e,
                tot.d,
                tot.a,
                readingsHash,
                ctx.rowsHash
            )
        );
        digestAt[slot][chunk] = digest;
        emit SharingSlotDigest(slot, chunk, digest, tot.e, tot.d, tot.a, n);
    }

    // ----------------------------------------------------------------------------------- views

    /// @inheritdoc ISharingSettlement
    function chunksIn(uint64 slot) public view returns (uint32 n) {
        n = community.chunkCount();
        // Chunks open in registration order, so those opened after `slot` are the last ones.
        while (n > 1 && community.chunkFromSlot(n - 1) > slot) {
            --n;
        }
    }

    // ----------------------------------------------------------------------------------- internals

    function _requireReady(uint64 slot) private view {
        (bool ready, uint256 deadline) = _readiness(slot);
        if (!ready) revert SharingReadingsPending(slot, deadline);
    }

    /// @dev Close the (slot, chunk)'s readings, check the words against the commitment and turn them
    /// into the rule's per-member figures (C_i, G_i with the members' terms in the slot).
    function _load(uint64 slot, uint32 chunk, address[] calldata members, uint256[] calldata words)
        private
        view
        returns (Chunk memory c)
    {
        c.readingsHash = _checkWords(slot, chunk, words);
        _aggregate(c, members, words);
        _participate(c, members, slot);
    }

    /// @dev Check the words against the (slot, chunk)'s commitment as it stands (a view; `_close`
    /// closes it, so that it can no longer change).
    function _checkWords(uint64 slot, uint32 chunk, uint256[] calldata words) private view returns (bytes32) {
        // slither-disable-next-line unused-return
        (uint256 count, bytes32 committed,) = readings.chunkReadings(slot, chunk);
        bytes32 h = bytes32(0);
        for (uint256 k; k < words.length; ++k) {
            h = HashChain.link(h, words[k]);
        }
        if (count != words.length || h != committed) {
            revert SharingReadingsMismatch(slot, chunk, count, words.length);
        }
        return committed;
    }

    /// @dev Close the (slot, chunk)'s readings: no reading may join them after the first pass, so
    /// every pass and the settlement see the words checked. The commitment cannot have changed
    /// since `_checkWords` in the same transaction; checked anyway.
    function _close(uint64 slot, uint32 chunk, bytes32 checked) private {
        (uint256 count, bytes32 committed) = readings.closeSlot(slot, chunk);
        if (committed != checked) revert SharingReadingsMismatch(slot, chunk, count, count);
    }

    /// @dev Import and export per listed member; every word's member listed, every member with a word.
    function _aggregate(Chunk memory c, address[] calldata members, uint256[] calldata words) private pure {
        uint256 n = members.length;
        for (uint256 i = 1; i < n; ++i) {
            if (members[i] <= members[i - 1]) revert SharingMembersNotAscending(i);
        }
        uint256[] memory flows = new uint256[](n);
        address[] memory sorted = members;
        for (uint256 k; k < words.length; ++k) {
            uint256 w = words[k];
            (bool found, uint256 i) = SortedAddresses.find(sorted, address(uint160(w)));
            if (!found) revert SharingMemberMissing(address(uint160(w)));
            // Import in bits 0-95, export in 96-191, the count of the member's readings from bit 192
            // (cleared below): sums of 48-bit figures over fewer than 2**32 words never carry over.
            unchecked {
                flows[i] += uint256(uint48(w >> 160)) | uint256(uint48(w >> 208)) << 96 | 1 << 192;
            }
        }
        for (uint256 i; i < n; ++i) {
            uint256 f = flows[i];
            if (f >> 192 == 0) revert SharingMemberWithoutReading(members[i]);
            flows[i] = f & ((1 << 192) - 1);
        }
        c.flows = flows;
    }

    /// @dev C_i, G_i and s_i from the members' sharing terms in the slot (one call for the chunk).
    function _participate(Chunk memory c, address[] calldata members, uint64 slot) private view {
        uint256 n = members.length;
        uint256[] memory terms = community.sharingTermsOf(members, slot);
        uint256[] memory rule = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint256 f = c.flows[i];
            uint256 imp = f & W96;
            uint256 exp = f >> 96;
            uint256 pct = terms[i] & 0xFF;
            uint256 x = (terms[i] >> 8) << 192;
            if (imp > exp) x |= (imp - exp) * pct / 100;
            else x |= ((exp - imp) * pct / 100) << 96;
            rule[i] = x;
        }
        c.rule = rule;
    }

    /// @dev A single-chunk slot's totals, from the chunk itself.
    function _totalsOf(Chunk memory c) private view returns (Totals memory t) {
        uint256[] memory rule = c.rule;
        uint256 n = rule.length;
        for (uint256 i; i < n; ++i) {
            t.e += rule[i] >> 96 & W96;
            t.d += rule[i] & W96;
        }
        if (key == SharingKey.Dynamic) {
            t.a = t.e < t.d ? t.e : t.d;
            if (t.e < t.d) {
                for (uint256 i; i < n; ++i) {
                    t.sumFloorC += (rule[i] & W96) * t.e / t.d;
                }
            }
        } else {
            for (uint256 i; i < n; ++i) {
                uint256 cc = rule[i] & W96;
                uint256 allot = t.e * (rule[i] >> 192) / PPM;
                t.a += allot < cc ? allot : cc;
            }
        }
        if (t.e != 0 && t.a != t.e) {
            for (uint256 i; i < n; ++i) {
                t.sumFloorR += t.a * (rule[i] >> 96 & W96) / t.e;
            }
        }
    }

    function _storedTotals(uint64 slot) private view returns (Totals memory t) {
        Tally storage s = _tallies[slot];
        if (!s.complete) revert SharingTallyIncomplete(slot, s.nextChunk);
        t.e = s.e;
        t.d = s.d;
        t.a = s.a;
        t.sumFloorC = s.sumFloorC;
        t.sumFloorR = s.sumFloorR;
    }

    function _context(uint64 slot, uint256 n) private view returns (Context memory ctx) {
        ctx.terms = _slotTerms(slot);
        if (ctx.terms.supply == address(0)) revert SharingNoSupplyAccount();
        ctx.debits = new uint256[](n + 1);
        ctx.credits = new uint256[](n + 3);
    }

    /// @dev One member by the rule: allotment, allocation, credit, money; its event and digest link.
    function _settleMember(Context memory ctx, Totals memory tot, Chunk memory c, uint256 i, address member)
        private
    {
        // The metered figures; `_allocate` and `_money` fill in the rest.
        uint256 f = c.flows[i];
        uint256 x = c.rule[i];
        Row memory r = Row(f & W96, f >> 96, x & W96, x >> 96 & W96, 0, 0, 0, 0, 0, 0, 0);
        _allocate(ctx, tot, r, x >> 192);
        _money(ctx, r, member);
        ctx.rowsHash = keccak256(abi.encode(ctx.rowsHash, member, r));
        // Wh figures are below 2**64 (48-bit readings summed over the community, and the shares of
        // such sums), n€ figures below 2**128 (prices below 2**40 times such Wh).
        emit SharingSettled(
            ctx.terms.slot,
            member,
            r.importWh | r.exportWh << 64 | r.bigC << 128 | r.bigG << 192,
            r.allotment | r.allocated << 64 | r.credited << 128,
            r.charged | r.paid << 128,
            r.collected | uint256(uint128(int128(r.bauCost))) << 128
        );
    }

    /// @dev The rule for one member. `tot.sumFloorC` is Σ floor(C_i·E/D) (dynamic, E < D) and
    /// `tot.sumFloorR` Σ floor(A·G_j/E) (A < E), so the leftovers are E − sumFloorC and A − sumFloorR,
    /// each smaller than the number of members below their cap: one Wh each to the first ones in
    /// (chunk, address) order, which `ctx`'s running indices count from the chunks before.
    function _allocate(Context memory ctx, Totals memory tot, Row memory r, uint256 sharePpm) private view {
        uint256 e = tot.e;
        uint256 d = tot.d;
        if (key == SharingKey.Static) {
            // G.02 is the share of E whatever the consumption; the cap leaves the rest as surplus.
            r.allotment = e * sharePpm / PPM;
            r.allocated = r.allotment < r.bigC ? r.allotment : r.bigC;
        } else if (r.bigC != 0) {
            uint256 index = ctx.consumerIndex++;
            if (e >= d) {
                r.allotment = r.bigC * e / d;
                r.allocated = r.bigC;
            } else {
                r.allocated = r.bigC * e / d + (index < e - tot.sumFloorC ? 1 : 0);
                r.allotment = r.allocated;
            }
        }
        if (r.bigG != 0) {
            uint256 index = ctx.producerIndex++;
            if (tot.a == e) r.credited = r.bigG;
            else r.credited = tot.a * r.bigG / e + (index < tot.a - tot.sumFloorR ? 1 : 0);
        }
    }

    /// @dev A consumer who can pay in full is debited once, into this contract, and the chunk's
    /// totals go on to the supply, network and fee accounts in the same settleNet call
    /// (`_transfer`); one who cannot is charged at once by EnergyToken.collect, creditor by creditor,
    /// the shortfall becoming debt. Producers are credited from the supply account in `_transfer`.
    function _money(Context memory ctx, Row memory r, address member) private {
        Tariff memory t = ctx.terms.tariff;
        uint256 m;
        if (r.importWh > r.exportWh) {
            m = r.importWh - r.exportWh; // c_i
            uint256 grid = m - r.allocated;
            (uint256 energy, uint256 network, uint256 fee) = TariffMath.sharedImport(t, r.allocated, grid);
            r.charged = energy + network + fee;
            r.bauCost = TariffMath.bauCost(t, -int256(m));
            ctx.fees += fee;
            if (r.charged == 0) return;
            if (token.balanceOf(member) >= r.charged) {
                ctx.debits[ctx.debitCount++] = uint160(member) | (r.charged << 160) | (1 << 255);
                ctx.toSupply += energy;
                ctx.toNetwork += network;
                ctx.toFee += fee;
                r.collected = r.charged;
            } else {
                r.collected = _collect(ctx, member, energy, network, fee);
            }
        } else {
            m = r.exportWh - r.importWh; // g_j
            uint256 sellFee;
            (r.paid, sellFee) = TariffMath.sharedExport(t, m, r.credited);
            r.bauCost = TariffMath.bauCost(t, int256(m));
            ctx.fees += sellFee;
            if (r.paid != 0) ctx.credits[ctx.creditCount++] = uint160(member) | (r.paid << 160);
            ctx.fromSupply += r.paid + sellFee;
            ctx.toFee += sellFee;
        }
    }

    function _collect(Context memory ctx, address member, uint256 energy, uint256 network, uint256 fee)
        private
        returns (uint256)
    {
        uint256[] memory charges = new uint256[](3);
        uint256 k;
        if (energy != 0) charges[k++] = uint160(ctx.terms.supply) | (energy << 160);
        if (network != 0) charges[k++] = uint160(ctx.terms.network) | (network << 160);
        if (fee != 0) charges[k++] = uint160(ctx.terms.fee) | (fee << 160);
        assembly ("memory-safe") {
            mstore(charges, k)
        }
        return token.collect(member, charges);
    }

    /// @dev One settleNet call: the paying consumers' debits, the supply account's net debit if it
    /// pays more than it receives, then the producers' credits and the accounts' shares. Over the
    /// chunk the supply account receives the energy paid for and pays the producers and their
    /// platform fees, so the shared Wh net out; this contract ends with nothing.
    function _transfer(Context memory ctx) private {
        uint256[] memory entries = ctx.debits;
        uint256 k = ctx.debitCount;
        if (ctx.fromSupply > ctx.toSupply) {
            uint256 owed = ctx.fromSupply - ctx.toSupply;
            uint256 balance = token.balanceOf(ctx.terms.supply);
            if (balance < owed) revert SharingSupplyUnderfunded(owed, balance);
            entries[k++] = uint160(ctx.terms.supply) | (owed << 160) | (1 << 255);
        }
        uint256[] memory credits = ctx.credits;
        uint256 c = ctx.creditCount;
        if (ctx.toSupply > ctx.fromSupply) credits[c++] = uint160(ctx.terms.supply) | ((ctx.toSupply - ctx.fromSupply) << 160);
        if (ctx.toNetwork != 0) credits[c++] = uint160(ctx.terms.network) | (ctx.toNetwork << 160);
        if (ctx.toFee != 0) credits[c++] = uint160(ctx.terms.fee) | (ctx.toFee << 160);
        if (k + c == 0) return;
        uint256[] memory all = new uint256[](k + c);
        for (uint256 i; i < k; ++i) {
            all[i] = entries[i];
        }
        for (uint256 i; i < c; ++i) {
            all[k + i] = credits[i];
        }
        token.settleNet(all);
    }
}
