// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {MemberRole, Tariff} from "./lib/MarketTypes.sol";
import {Calendar} from "./lib/Calendar.sol";
import {Roles} from "./lib/Roles.sol";

/// @title Community
/// @notice Members, meters, the tariff schedule, the slot calendar, and the role registry every
/// gridshare contract consults (see ICommunity).
contract Community is AccessControl, ICommunity {
    /// @notice Registers members and meters, schedules tariffs (the DSO's operators).
    bytes32 public constant DSO_ROLE = Roles.DSO;
    /// @notice Relays signed meter readings.
    bytes32 public constant ORACLE_ROLE = Roles.ORACLE;
    /// @notice Submits slot clearings.
    bytes32 public constant MATCHER_ROLE = Roles.MATCHER;
    /// @notice Runs member exits (the Membership contract).
    bytes32 public constant MEMBERSHIP_ROLE = Roles.MEMBERSHIP;
    /// @notice Moves intent nonce epochs on (the Settlement contract).
    bytes32 public constant INTENTS_ROLE = Roles.INTENTS;

    /// @dev Prices must stay below 2**40 (OrderWord packs limits in 40 bits).
    uint256 private constant PRICE_CAP = 1 << 40;
    /// @dev Static shares are in parts per million of the community's production.
    uint256 private constant PPM = 1_000_000;
    /// @dev A terms word's share field with this bit set names a bank of `_hourlyShares` (bit 0).
    uint256 private constant HOURLY = 1 << 31;
    uint256 private constant HOURS = 24;

    struct Member {
        MemberRole role;
        uint64 joinedSlot;
        uint64 lockInUntilSlot;
        bool exiting;
        uint64 exitSlot;
        uint32 chunk;
        /// @dev The nonce epoch the account's intents are signed under (ISettlement.revokeIntents).
        /// It sits in the role's word, so a settlement reads both with one storage read, and it
        /// outlives a membership: intents revoked before an exit stay revoked after a return.
        uint16 intentEpoch;
    }

    /// @dev `index` is the meter's position in its member's meter list. A retired id may be registered
    /// again; MeterReadings keeps each id's last slot and sequence, so old readings never replay.
    struct Meter {
        address member;
        uint88 index;
        bool retired;
        address signer;
        uint32 chunk;
        uint64 chunkFromSlot;
    }

    struct TariffEntry {
        uint64 fromSlot;
        Tariff tariff;
    }

    /// @inheritdoc ICommunity
    uint64 public immutable genesis;
    /// @inheritdoc ICommunity
    uint64 public immutable slotSeconds;
    /// @inheritdoc ICommunity
    uint64 public immutable gateClosureSeconds;
    /// @inheritdoc ICommunity
    uint64 public immutable orderHorizonSlots;
    /// @inheritdoc ICommunity
    uint256 public immutable chunkMembers;

    /// @inheritdoc ICommunity
    address public feeAccount;
    /// @inheritdoc ICommunity
    address public networkAccount;
    /// @inheritdoc ICommunity
    address public supplyAccount;
    /// @inheritdoc ICommunity
    uint256 public memberCount;
    /// @inheritdoc ICommunity
    uint256 public meterCount;
    /// @inheritdoc ICommunity
    uint256 public exitPenalty;

    mapping(address account => Member) private _members;
    mapping(bytes32 meterId => Meter) private _meters;
    // Written through storage pointers (`list.push`), which Slither does not follow.
    // slither-disable-next-line uninitialized-state
    mapping(address member => bytes32[]) private _memberMeters;
    TariffEntry[] private _tariffs;
    /// @dev Registrations ever made (the next one's number).
    uint256 private _registrations;
    /// @dev The first slot of each opened chunk.
    uint64[] private _chunkFrom;
    /// @dev Per member, its energy-sharing terms in one word (one read per member and slot): the
    /// terms before a change (`pct` 8 bits, 0 meaning never set = 100 %, `ppm` 32 bits), the
    /// change's first slot (64 bits, 0: none) and the terms from it on (8 + 32 bits). See SharingTerms.
    mapping(address member => uint256) private _sharingTerms;
    /// @dev Per member, two banks of an hourly static schedule (a terms word's share field reads
    /// `HOURLY | bank`): bank `b` is words `2b` (hours 0..11) and `2b + 1` (hours 12..23), 20 bits
    /// per hour. A change writes the bank the terms before it do not use.
    mapping(address member => uint256[4]) private _hourlyShares;
    /// @dev Per hour of the day, the sum over members of the larger of the share in force and the
    /// scheduled share (ppm).
    uint32[24] private _hourTotals;

    /// @param admin The DSO's admin (grants roles; also gets DSO_ROLE).
    /// @param genesis_ Start of slot 0, unix seconds (must exceed the gate closure lead).
    /// @param slotSeconds_ Slot length in seconds (e.g. 1800 or 900).
    /// @param gateClosureSeconds_ Order gate closes this long before a slot starts.
    /// @param orderHorizonSlots_ Orders may be placed at most this many slots ahead.
    /// @param initialTariff Tariff in force from slot 0.
    /// @param feeAccount_ DSO account for platform fees.
    /// @param networkAccount_ DSO account for network charges.
    /// @param chunkMembers_ Most members per settlement chunk (1..65535; 256 by default).
    constructor(
        address admin,
        uint64 genesis_,
        uint64 slotSeconds_,
        uint64 gateClosureSeconds_,
        uint64 orderHorizonSlots_,
        Tariff memory initialTariff,
        address feeAccount_,
        address networkAccount_,
        uint256 chunkMembers_
    ) {
        if (chunkMembers_ == 0 || chunkMembers_ > type(uint16).max) revert CommunityInvalidChunkSize(chunkMembers_);
        if (slotSeconds_ == 0 || genesis_ <= gateClosureSeconds_ || orderHorizonSlots_ == 0) {
            revert CommunityInvalidCalendar();
        }
        if (admin == address(0)) revert CommunityZeroAddress();
        genesis = genesis_;
        slotSeconds = slotSeconds_;
        gateClosureSeconds = gateClosureSeconds_;
        orderHorizonSlots = orderHorizonSlots_;
        chunkMembers = chunkMembers_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(DSO_ROLE, admin);
        _setDsoAccounts(feeAccount_, networkAccount_);
        _validateTariff(initialTariff);
        _tariffs.push(TariffEntry(0, initialTariff));
        emit TariffScheduled(0, initialTariff);
    }

    // ----------------------------------------------------------------------------------- members

    /// @inheritdoc ICommunity
    function registerMember(address member, MemberRole role, uint64 lockInSlots) external onlyRole(DSO_ROLE) {
        if (member == address(0)) revert CommunityZeroAddress();
        if (role == MemberRole.None) revert CommunityInvalidRole(role);
        if (_members[member].role != MemberRole.None) revert CommunityAlreadyMember(member);
        uint64 nowSlot = currentSlot();
        uint64 lockIn = nowSlot + lockInSlots;
        uint256 number = _registrations++;
        // At most 2**256 / 2**16 chunks can be numbered; uint32 covers 2**32 · chunkMembers members.
        uint32 chunk = uint32(number / chunkMembers);
        _members[member] = Member(role, nowSlot, lockIn, false, 0, chunk, _members[member].intentEpoch);
        memberCount += 1;
        if (number % chunkMembers == 0) {
            _chunkFrom.push(nowSlot);
            emit ChunkOpened(chunk, nowSlot);
        }
        emit MemberRegistered(member, role, nowSlot, lockIn, chunk);
    }

    /// @inheritdoc ICommunity
    function setMemberRole(address member, MemberRole role) external onlyRole(DSO_ROLE) {
        if (role == MemberRole.None) revert CommunityInvalidRole(role);
        if (_members[member].role == MemberRole.None || _members[member].exiting) revert CommunityNotMember(member);
        _members[member].role = role;
        emit MemberRoleChanged(member, role);
    }

    /// @inheritdoc ICommunity
    function registerMeter(bytes32 meterId, address member, address signer) external onlyRole(DSO_ROLE) {
        if (signer == address(0)) revert CommunityZeroAddress();
        if (_members[member].role == MemberRole.None || _members[member].exiting) revert CommunityNotMember(member);
        Meter storage existing = _meters[meterId];
        if (existing.member != address(0) && !existing.retired) revert CommunityMeterExists(meterId);
        bytes32[] storage list = _memberMeters[member];
        uint32 chunk = _members[member].chunk;
        // The chunk's first slot rides in the meter's record, so a reading costs no extra read.
        _meters[meterId] = Meter(member, uint88(list.length), false, signer, chunk, _chunkFrom[chunk]);
        list.push(meterId);
        meterCount += 1;
        emit MeterRegistered(meterId, member, signer);
    }

    /// @inheritdoc ICommunity
    function retireMeter(bytes32 meterId) external onlyRole(DSO_ROLE) {
        _retireMeter(meterId);
    }

    /// @inheritdoc ICommunity
    function setExitPenalty(uint256 penalty) external onlyRole(DSO_ROLE) {
        exitPenalty = penalty;
        emit ExitPenaltySet(penalty);
    }

    /// @inheritdoc ICommunity
    function beginExit(address member) external onlyRole(Roles.MEMBERSHIP) returns (uint64 exitSlot) {
        Member storage m = _members[member];
        if (m.role == MemberRole.None || m.exiting) revert CommunityNotMember(member);
        // The member stays bound by every slot whose gate has already closed.
        uint64 nowSlot = currentSlot();
        exitSlot = block.timestamp >= Calendar.gateClosure(genesis, slotSeconds, gateClosureSeconds, nowSlot + 1)
            ? nowSlot + 1
            : nowSlot;
        m.exiting = true;
        m.exitSlot = exitSlot;
        memberCount -= 1;
        emit MemberExiting(member, exitSlot);
    }

    /// @inheritdoc ICommunity
    function completeExit(address member) external onlyRole(Roles.MEMBERSHIP) {
        Member storage m = _members[member];
        if (!m.exiting) revert CommunityNotExiting(member);
        bytes32[] storage list = _memberMeters[member];
        while (list.length != 0) {
            _retireMeter(list[list.length - 1]);
        }
        _members[member] = Member(MemberRole.None, 0, 0, false, 0, 0, m.intentEpoch);
        uint256 terms = _sharingTerms[member];
        if (terms != 0) {
            _retotal(member, _claims(member, terms), 0); // the leaver's share is free again
            delete _sharingTerms[member];
            delete _hourlyShares[member];
        }
        emit MemberLeft(member);
    }

    /// @inheritdoc ICommunity
    function memberRole(address account) external view returns (MemberRole) {
        Member storage m = _members[account];
        return m.exiting ? MemberRole.None : m.role;
    }

    /// @inheritdoc ICommunity
    function intentHolders(address[] calldata accounts)
        external
        view
        returns (MemberRole[] memory roles, uint256[] memory epochs)
    {
        uint256 n = accounts.length;
        roles = new MemberRole[](n);
        epochs = new uint256[](n);
        for (uint256 k; k < n; ++k) {
            Member storage m = _members[accounts[k]];
            roles[k] = m.exiting ? MemberRole.None : m.role;
            epochs[k] = m.intentEpoch;
        }
    }

    /// @inheritdoc ICommunity
    function intentEpochOf(address account) external view returns (uint256) {
        return _members[account].intentEpoch;
    }

    /// @inheritdoc ICommunity
    function nextIntentEpoch(address account) external onlyRole(Roles.INTENTS) returns (uint256 epoch) {
        Member storage m = _members[account];
        epoch = uint256(m.intentEpoch) + 1;
        if (epoch > type(uint16).max) revert CommunityIntentEpochsExhausted(account);
        m.intentEpoch = uint16(epoch);
    }

    /// @inheritdoc ICommunity
    function memberInfo(address account)
        external
        view
        returns (MemberRole role, uint64 joinedSlot, uint64 lockInUntilSlot, bool exiting, uint64 exitSlot)
    {
        Member storage m = _members[account];
        return (m.role, m.joinedSlot, m.lockInUntilSlot, m.exiting, m.exitSlot);
    }

    /// @inheritdoc ICommunity
    function meter(bytes32 meterId)
        external
        view
        returns (address member, address signer, uint32 chunk, uint64 chunkFirstSlot)
    {
        Meter storage m = _meters[meterId];
        if (m.retired || m.member == address(0)) return (address(0), address(0), 0, 0);
        return (m.member, m.signer, m.chunk, m.chunkFromSlot);
    }

    /// @inheritdoc ICommunity
    function chunkCount() external view returns (uint32) {
        return uint32(_chunkFrom.length);
    }

    /// @inheritdoc ICommunity
    function chunkFromSlot(uint32 chunk) external view returns (uint64) {
        if (chunk >= _chunkFrom.length) revert CommunityUnknownChunk(chunk);
        return _chunkFrom[chunk];
    }

    /// @inheritdoc ICommunity
    function chunkOf(address member) external view returns (uint32) {
        Member storage m = _members[member];
        if (m.role == MemberRole.None) revert CommunityNotMember(member);
        return m.chunk;
    }

    /// @notice The meters currently registered for `member`.
    function metersOf(address member) external view returns (bytes32[] memory) {
        return _memberMeters[member];
    }

    // ----------------------------------------------------------------------------------- tariffs

    /// @inheritdoc ICommunity
    function scheduleTariff(uint64 fromSlot, Tariff calldata tariff) external onlyRole(DSO_ROLE) {
        uint64 earliest = currentSlot() + orderHorizonSlots;
        if (fromSlot <= earliest) revert CommunityTariffTooEarly(fromSlot, earliest + 1);
        _validateTariff(tariff);
        // Entries at or after fromSlot all lie beyond the horizon, so no order depends on them yet.
        while (_tariffs[_tariffs.length - 1].fromSlot >= fromSlot) {
            emit TariffWithdrawn(_tariffs[_tariffs.length - 1].fromSlot);
            _tariffs.pop();
        }
        _tariffs.push(TariffEntry(fromSlot, tariff));
        emit TariffScheduled(fromSlot, tariff);
    }

    /// @inheritdoc ICommunity
    function tariffAt(uint64 slot) external view returns (Tariff memory) {
        uint256 i = _tariffs.length - 1;
        while (_tariffs[i].fromSlot > slot) {
            --i; // entry 0 starts at slot 0, so this stops there
        }
        return _tariffs[i].tariff;
    }

    /// @inheritdoc ICommunity
    function tariffCount() external view returns (uint256) {
        return _tariffs.length;
    }

    /// @notice Schedule entry `i`: its first slot and tariff.
    function tariffEntry(uint256 i) external view returns (uint64 fromSlot, Tariff memory tariff) {
        TariffEntry storage e = _tariffs[i];
        return (e.fromSlot, e.tariff);
    }

    // ----------------------------------------------------------------------------------- sharing

    /// @inheritdoc ICommunity
    function scheduleSharingTerms(address member, uint64 fromSlot, uint8 participationPct, uint32 sharePpm)
        external
        onlyRole(DSO_ROLE)
    {
        if (sharePpm > PPM) revert CommunitySharingInvalidShare(member, sharePpm);
        _scheduleSharing(member, fromSlot, participationPct, sharePpm, new uint32[](0));
        emit SharingTermsScheduled(member, fromSlot, participationPct, sharePpm);
    }

    /// @inheritdoc ICommunity
    function scheduleSharingHours(address member, uint64 fromSlot, uint8 participationPct, uint32[24] calldata sharesPpm)
        external
        onlyRole(DSO_ROLE)
    {
        uint32[] memory shares = new uint32[](HOURS);
        for (uint256 h; h < HOURS; ++h) {
            if (sharesPpm[h] > PPM) revert CommunitySharingInvalidShare(member, sharesPpm[h]);
            shares[h] = sharesPpm[h];
        }
        _scheduleSharing(member, fromSlot, participationPct, HOURLY, shares);
        emit SharingHoursScheduled(member, fromSlot, participationPct, sharesPpm);
    }

    /// @inheritdoc ICommunity
    function sharingTermsAt(address member, uint64 slot) external view returns (uint256 participationPct, uint256 sharePpm) {
        uint256 t = _termsAt(member, slot);
        return (t & 0xFF, t >> 8);
    }

    /// @inheritdoc ICommunity
    function sharingTermsOf(address[] calldata members, uint64 slot) external view returns (uint256[] memory terms) {
        uint256 n = members.length;
        terms = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            terms[i] = _termsAt(members[i], slot);
        }
    }

    /// @inheritdoc ICommunity
    function sharePpmTotal() external view returns (uint256 total) {
        for (uint256 h; h < HOURS; ++h) {
            if (_hourTotals[h] > total) total = _hourTotals[h];
        }
    }

    /// @inheritdoc ICommunity
    function sharePpmTotalAt(uint256 hour) external view returns (uint256) {
        return _hourTotals[hour];
    }

    /// @inheritdoc ICommunity
    function setSupplyAccount(address supplyAccount_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (supplyAccount_ == address(0)) revert CommunityZeroAddress();
        supplyAccount = supplyAccount_;
        emit SupplyAccountSet(supplyAccount_);
    }

    /// @inheritdoc ICommunity
    function setDsoAccounts(address feeAccount_, address networkAccount_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDsoAccounts(feeAccount_, networkAccount_);
    }

    // ----------------------------------------------------------------------------------- calendar

    /// @inheritdoc ICommunity
    function currentSlot() public view returns (uint64) {
        return Calendar.slotAt(genesis, slotSeconds, _now());
    }

    /// @inheritdoc ICommunity
    function gateClosure(uint64 slot) external view returns (uint256) {
        return Calendar.gateClosure(genesis, slotSeconds, gateClosureSeconds, slot);
    }

    /// @inheritdoc ICommunity
    function slotStart(uint64 slot) external view returns (uint256) {
        return Calendar.slotStart(genesis, slotSeconds, slot);
    }

    /// @inheritdoc ICommunity
    function hasRole(bytes32 role, address account) public view override(AccessControl, ICommunity) returns (bool) {
        return super.hasRole(role, account);
    }

    // ----------------------------------------------------------------------------------- internal

    /// @dev The one place time is read, so a test harness can override it.
    function _now() internal view virtual returns (uint256) {
        return block.timestamp;
    }

    /// @dev Swap-and-pop the meter out of its member's list and mark the record retired.
    function _retireMeter(bytes32 meterId) private {
        Meter storage m = _meters[meterId];
        address member = m.member;
        if (member == address(0) || m.retired) revert CommunityUnknownMeter(meterId);
        bytes32[] storage list = _memberMeters[member];
        bytes32 moved = list[list.length - 1];
        list[m.index] = moved;
        _meters[moved].index = m.index;
        list.pop();
        m.retired = true;
        meterCount -= 1;
        emit MeterRetired(meterId, member);
    }

    function _setDsoAccounts(address feeAccount_, address networkAccount_) private {
        if (feeAccount_ == address(0) || networkAccount_ == address(0)) revert CommunityZeroAddress();
        feeAccount = feeAccount_;
        networkAccount = networkAccount_;
        emit DsoAccountsSet(feeAccount_, networkAccount_);
    }

    /// @dev The rules both ways of scheduling share: the member, the factor, the notice, at most one
    /// change waiting; `share` is the flat share (ppm) or `HOURLY`, with `hourly` then the 24 shares.
    function _scheduleSharing(
        address member,
        uint64 fromSlot,
        uint8 participationPct,
        uint256 share,
        uint32[] memory hourly
    ) private {
        _requireSharingTerms(member, participationPct);
        uint64 nowSlot = currentSlot();
        uint64 earliest = nowSlot + orderHorizonSlots;
        if (fromSlot <= earliest) revert CommunitySharingTooEarly(fromSlot, earliest + 1);
        uint256 old = _sharingTerms[member];
        uint64 switchSlot = uint64(old >> 40);
        // The terms before the new change: those before the old one if it is not in force yet (it
        // is withdrawn), else those it brought.
        uint256 before = old & 0xFF_FFFF_FFFF;
        if (switchSlot != 0 && switchSlot <= nowSlot) {
            // The old change is in force: slots before it read the terms it replaced, which the
            // new word no longer holds, so those slots must be settled by now (one notice later).
            if (nowSlot < switchSlot + orderHorizonSlots) {
                revert CommunitySharingChangeTooSoon(member, switchSlot, switchSlot + orderHorizonSlots);
            }
            before = old >> 104;
        }
        uint256[HOURS] memory released = _claims(member, old);
        if (share == HOURLY) {
            // The bank the terms before do not read (the withdrawn change's may be overwritten).
            uint256 bank = (before >> 8) & HOURLY != 0 ? 1 - ((before >> 8) & 1) : 0;
            share = HOURLY | bank;
            uint256[2] memory words = [uint256(0), 0];
            for (uint256 h; h < HOURS; ++h) {
                words[h / 12] |= uint256(hourly[h]) << (20 * (h % 12));
            }
            _hourlyShares[member][bank << 1] = words[0];
            _hourlyShares[member][(bank << 1) | 1] = words[1];
        }
        uint256 word = before | uint256(fromSlot) << 40 | uint256(participationPct) << 104 | share << 112;
        _sharingTerms[member] = word;
        _retotal(member, released, word);
    }

    /// @dev A member (not leaving) and a participation factor of 1..100 %.
    function _requireSharingTerms(address member, uint8 participationPct) private view {
        Member storage m = _members[member];
        if (m.role == MemberRole.None || m.exiting) revert CommunityNotMember(member);
        if (participationPct == 0 || participationPct > 100) {
            revert CommunitySharingInvalidParticipation(member, participationPct);
        }
    }

    /// @dev Take `released` off the hour totals and add what `member`'s terms word `word` claims;
    /// reverts if an hour's total would pass 1,000,000 ppm.
    function _retotal(address member, uint256[HOURS] memory released, uint256 word) private {
        uint256[HOURS] memory claimed = _claims(member, word);
        for (uint256 h; h < HOURS; ++h) {
            uint256 total = _hourTotals[h] + claimed[h] - released[h];
            if (total > PPM) revert CommunitySharingSharesExceed(member, total);
            // 24 hours, a DSO action.
            // slither-disable-next-line costly-loop
            _hourTotals[h] = uint32(total);
        }
    }

    /// @dev What a packed terms word of `member` claims of the 1,000,000 ppm in each hour of the
    /// day: the larger of its two shares there.
    function _claims(address member, uint256 word) private view returns (uint256[HOURS] memory c) {
        bool changes = uint64(word >> 40) != 0;
        for (uint256 h; h < HOURS; ++h) {
            uint256 a = _shareAt(member, uint32(word >> 8), h);
            uint256 b = changes ? _shareAt(member, uint32(word >> 112), h) : 0;
            c[h] = a > b ? a : b;
        }
    }

    /// @dev `member`'s terms in `slot`, as `pct | ppm << 8` (pct 100 when never set; an hourly
    /// schedule's share of the slot's hour).
    function _termsAt(address member, uint64 slot) private view returns (uint256) {
        uint256 word = _sharingTerms[member];
        uint64 switchSlot = uint64(word >> 40);
        uint256 t = (switchSlot != 0 && slot >= switchSlot) ? (word >> 104) & 0xFF_FFFF_FFFF : word & 0xFF_FFFF_FFFF;
        uint256 pct = t & 0xFF;
        uint256 share = t >> 8;
        if (share & HOURLY != 0) share = _shareAt(member, share, Calendar.hourOfDay(slotSeconds, slot));
        return (pct == 0 ? 100 : pct) | share << 8;
    }

    /// @dev The share (ppm) a terms word's share field gives in hour `hour`.
    function _shareAt(address member, uint256 share, uint256 hour) private view returns (uint256) {
        if (share & HOURLY == 0) return share;
        uint256 w = _hourlyShares[member][((share & 1) << 1) | (hour / 12)];
        return (w >> (20 * (hour % 12))) & 0xF_FFFF;
    }

    function _validateTariff(Tariff memory t) private pure {
        if (t.feedInPrice == 0 || t.feedInPrice > t.retailPrice) revert CommunityInvalidTariff(1);
        if (t.communityPrice < t.feedInPrice || t.communityPrice > t.retailPrice) revert CommunityInvalidTariff(2);
        if (t.tradeFeeSell > t.feedInPrice) revert CommunityInvalidTariff(3);
        if (
            t.retailPrice >= PRICE_CAP || t.gridFee >= PRICE_CAP || t.p2pGridFee >= PRICE_CAP
                || t.tradeFeeBuy >= PRICE_CAP
        ) revert CommunityInvalidTariff(4);
        if (t.sharingPrice < t.feedInPrice || t.sharingPrice > t.retailPrice || t.tradeFeeSell > t.sharingPrice) {
            revert CommunityInvalidTariff(5);
        }
    }
}
