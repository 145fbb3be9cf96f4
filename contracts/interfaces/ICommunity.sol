// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MemberRole, Tariff} from "../lib/MarketTypes.sol";

/// @title The energy community: roles, members, meters, tariffs and the slot calendar
/// @notice The DSO registers members and their meters and schedules tariffs. A tariff change takes
/// effect only for slots beyond the order horizon, so every order is placed, escrowed and settled
/// under the same tariff.
interface ICommunity {
    /// @notice A member joined (or re-joined) with `role`; it may not leave before `lockInUntilSlot`
    /// without paying the exit penalty. `chunk` is its settlement chunk for good (see `chunkOf`).
    event MemberRegistered(
        address indexed member, MemberRole role, uint64 joinedSlot, uint64 lockInUntilSlot, uint32 chunk
    );
    /// @notice Chunk `chunk` was opened by the registration that made it needed; its members' readings
    /// and imbalance start at slot `fromSlot`.
    event ChunkOpened(uint32 indexed chunk, uint64 fromSlot);
    /// @notice A member's role changed.
    event MemberRoleChanged(address indexed member, MemberRole role);
    /// @notice A meter was registered for `member`; readings must be signed by `signer`.
    event MeterRegistered(bytes32 indexed meterId, address indexed member, address signer);
    /// @notice A meter was retired; its readings are no longer accepted.
    event MeterRetired(bytes32 indexed meterId, address indexed member);
    /// @notice `tariff` applies from slot `fromSlot` on (until a later entry).
    event TariffScheduled(uint64 indexed fromSlot, Tariff tariff);
    /// @notice A not-yet-binding scheduled tariff was withdrawn before it could apply.
    event TariffWithdrawn(uint64 indexed fromSlot);
    /// @notice The DSO accounts that receive platform fees and network charges changed.
    event DsoAccountsSet(address feeAccount, address networkAccount);
    /// @notice The DSO's supply account (counterparty of imbalance: pays feed-in, receives retail).
    event SupplyAccountSet(address supplyAccount);
    /// @notice The exit penalty (n€, charged to a member leaving before its lock-in ends) changed.
    event ExitPenaltySet(uint256 penalty);
    /// @notice `member` started leaving: it can no longer trade; it stays bound by slots up to
    /// `exitSlot` (whose gates had closed).
    event MemberExiting(address indexed member, uint64 exitSlot);
    /// @notice `member` left: its record is deleted and its meters retired (it may be registered again).
    event MemberLeft(address indexed member);
    /// @notice From `fromSlot` on, `member` takes part in the energy sharing (mode `sharing`) with
    /// `participationPct` % of its metering point and, for the static key, `sharePpm` ppm of the
    /// community's production. Replaces a change of the member not yet in force.
    event SharingTermsScheduled(address indexed member, uint64 fromSlot, uint8 participationPct, uint32 sharePpm);
    /// @notice As SharingTermsScheduled, with a static share per hour of the day: from `fromSlot`
    /// on, a slot takes `sharesPpm[h]` where `h` is the hour of the day it starts in (counted from
    /// genesis, see Calendar.hourOfDay).
    event SharingHoursScheduled(
        address indexed member, uint64 fromSlot, uint8 participationPct, uint32[24] sharesPpm
    );

    error CommunityZeroAddress();
    error CommunityAlreadyMember(address member);
    error CommunityNotMember(address member);
    error CommunityInvalidRole(MemberRole role);
    error CommunityMeterExists(bytes32 meterId);
    error CommunityUnknownMeter(bytes32 meterId);
    /// @notice The tariff breaks a rule (code: 1 feed-in is zero or above retail, 2 community price
    /// outside [feed-in, retail], 3 sell fee above feed-in, 4 a price at or above 2**40, 5 sharing
    /// price outside [feed-in, retail] or below the sell fee).
    error CommunityInvalidTariff(uint8 code);
    /// @notice A tariff change must start after `earliestSlot` (orders may already exist before).
    error CommunityTariffTooEarly(uint64 fromSlot, uint64 earliestSlot);
    error CommunityInvalidCalendar();
    error CommunityNotExiting(address member);
    /// @notice `account` revoked its intents 65,535 times: its epoch cannot move on.
    error CommunityIntentEpochsExhausted(address account);
    /// @notice The chunk size must be 1..65535 members.
    error CommunityInvalidChunkSize(uint256 chunkMembers);
    /// @notice No such chunk has been opened.
    error CommunityUnknownChunk(uint32 chunk);
    /// @notice A participation factor must be 1..100 %.
    error CommunitySharingInvalidParticipation(address member, uint256 participationPct);
    /// @notice A static share must be at most 1,000,000 ppm.
    error CommunitySharingInvalidShare(address member, uint256 sharePpm);
    /// @notice The members' static shares would sum to `totalPpm`, more than 1,000,000, in an hour
    /// of the day.
    error CommunitySharingSharesExceed(address member, uint256 totalPpm);
    /// @notice A change of sharing terms must start after `earliestSlot` (the tariff notice).
    error CommunitySharingTooEarly(uint64 fromSlot, uint64 earliestSlot);
    /// @notice The member's last change took effect at `inForceSlot`; slots before it may still be
    /// settling, so the next change may be scheduled from slot `allowedFromSlot` on.
    error CommunitySharingChangeTooSoon(address member, uint64 inForceSlot, uint64 allowedFromSlot);

    /// @notice Register a member with a role and a lock-in (in slots from now). Only the DSO.
    function registerMember(address member, MemberRole role, uint64 lockInSlots) external;

    /// @notice Change a member's role. Only the DSO.
    function setMemberRole(address member, MemberRole role) external;

    /// @notice Register a meter of `member` whose readings are signed by `signer`. Only the DSO.
    function registerMeter(bytes32 meterId, address member, address signer) external;

    /// @notice Retire a meter. Only the DSO.
    function retireMeter(bytes32 meterId) external;

    /// @notice Schedule `tariff` from slot `fromSlot` on; withdraws any scheduled entry at or after
    /// `fromSlot`. `fromSlot` must lie beyond the order horizon. Only the DSO.
    function scheduleTariff(uint64 fromSlot, Tariff calldata tariff) external;

    /// @notice Schedule `member`'s energy-sharing terms from `fromSlot` on (beyond the order horizon,
    /// the tariff notice): participation factor 1..100 % and static share in ppm (the shares of all
    /// members sum to at most 1,000,000, counting for each member the larger of its share in force
    /// and its scheduled one). Replaces the member's change not yet in force. Only the DSO.
    function scheduleSharingTerms(address member, uint64 fromSlot, uint8 participationPct, uint32 sharePpm)
        external;

    /// @notice Schedule `member`'s energy-sharing terms from `fromSlot` on with a static share per
    /// hour of the day (`sharesPpm[h]` for the slots starting in hour `h`, Calendar.hourOfDay):
    /// the rules of `scheduleSharingTerms`, the share total checked in every hour. Only the DSO.
    function scheduleSharingHours(address member, uint64 fromSlot, uint8 participationPct, uint32[24] calldata sharesPpm)
        external;

    /// @notice `member`'s participation factor (%) and static share (ppm) in `slot` (100 % and 0 ppm
    /// unless terms were scheduled; an hourly schedule gives the share of the slot's hour).
    function sharingTermsAt(address member, uint64 slot) external view returns (uint256 participationPct, uint256 sharePpm);

    /// @notice The terms of each of `members` in `slot`, each as `participationPct | sharePpm << 8`
    /// (one storage read per member).
    function sharingTermsOf(address[] calldata members, uint64 slot) external view returns (uint256[] memory terms);

    /// @notice The sum over members of the larger of the share in force and the scheduled share (ppm),
    /// in the hour of the day where it is largest.
    function sharePpmTotal() external view returns (uint256);

    /// @notice As `sharePpmTotal`, in hour `hour` (0..23) of the day.
    function sharePpmTotalAt(uint256 hour) external view returns (uint256);

    /// @notice Set the exit penalty in n€. Only the DSO.
    function setExitPenalty(uint256 penalty) external;

    /// @notice Mark `member` as leaving (it can no longer trade) and return the last slot it stays
    /// bound by. Only the membership contract.
    function beginExit(address member) external returns (uint64 exitSlot);

    /// @notice Remove a leaving member and retire its meters. Only the membership contract.
    function completeExit(address member) external;

    /// @notice Set the DSO's supply account (imbalance counterparty). Only the admin.
    function setSupplyAccount(address supplyAccount) external;

    /// @notice Set the accounts receiving platform fees and network charges. Only the admin.
    function setDsoAccounts(address feeAccount, address networkAccount) external;

    /// @notice Role of `account` (`None` if not a member, or leaving).
    function memberRole(address account) external view returns (MemberRole);

    /// @notice For each of `accounts`, its role (`None` if not a member, or leaving) and the nonce
    /// epoch its intents are signed under: what a settlement checks of an intent's holder.
    function intentHolders(address[] calldata accounts)
        external
        view
        returns (MemberRole[] memory roles, uint256[] memory epochs);

    /// @notice The nonce epoch `account`'s intents are signed under (0 until it first revokes).
    function intentEpochOf(address account) external view returns (uint256);

    /// @notice Move `account`'s intent nonce epoch on by one and return it. Only INTENTS_ROLE (the
    /// Settlement contract, on the account's own `revokeIntents`). Emits nothing: the Settlement
    /// emits IntentsRevoked.
    function nextIntentEpoch(address account) external returns (uint256 epoch);

    /// @notice A member's record: role, slot joined, lock-in end, whether it is leaving and the last
    /// slot it stays bound by.
    function memberInfo(address account)
        external
        view
        returns (MemberRole role, uint64 joinedSlot, uint64 lockInUntilSlot, bool exiting, uint64 exitSlot);

    /// @notice Number of members (leaving ones excluded).
    function memberCount() external view returns (uint256);

    /// @notice Number of registered (not retired) meters.
    function meterCount() external view returns (uint256);

    /// @notice Penalty in n€ for leaving before the lock-in ends.
    function exitPenalty() external view returns (uint256);

    /// @notice The DSO account that pays feed-in and receives retail for imbalance.
    function supplyAccount() external view returns (address);

    /// @notice The tariff in force for `slot`.
    function tariffAt(uint64 slot) external view returns (Tariff memory);

    /// @notice Number of tariff schedule entries.
    function tariffCount() external view returns (uint256);

    /// @notice Member, signer and settlement chunk of a meter, and the first slot of that chunk
    /// (zero addresses if unknown or retired).
    function meter(bytes32 meterId)
        external
        view
        returns (address member, address signer, uint32 chunk, uint64 chunkFirstSlot);

    /// @notice Most members per settlement chunk (fixed at deployment). The n-th registration ever
    /// (from 0) falls in chunk `n / chunkMembers`, for good: readings and imbalance are committed
    /// and settled per (slot, chunk), so no settlement transaction grows with the community.
    function chunkMembers() external view returns (uint256);

    /// @notice Number of chunks opened so far (chunks `0 .. chunkCount() - 1`).
    function chunkCount() external view returns (uint32);

    /// @notice The first slot of chunk `chunk` (the slot its first member joined in).
    function chunkFromSlot(uint32 chunk) external view returns (uint64);

    /// @notice The settlement chunk of `member` (a member or a leaving one; reverts otherwise).
    function chunkOf(address member) external view returns (uint32);

    /// @notice The DSO account receiving platform fees.
    function feeAccount() external view returns (address);

    /// @notice The DSO account receiving network charges.
    function networkAccount() external view returns (address);

    /// @notice Whether `account` holds `role` (the community is the role registry of all contracts).
    function hasRole(bytes32 role, address account) external view returns (bool);

    /// @notice Start of slot 0 (unix seconds).
    function genesis() external view returns (uint64);

    /// @notice Slot length in seconds (1800 by default, 900 supported).
    function slotSeconds() external view returns (uint64);

    /// @notice How long before a slot's start its order book closes, in seconds.
    function gateClosureSeconds() external view returns (uint64);

    /// @notice How many slots ahead of the current one orders may be placed.
    function orderHorizonSlots() external view returns (uint64);

    /// @notice The slot whose delivery period contains the current block time.
    function currentSlot() external view returns (uint64);

    /// @notice Unix time at which the order book of `slot` closes.
    function gateClosure(uint64 slot) external view returns (uint256);

    /// @notice Unix time at which delivery of `slot` starts.
    function slotStart(uint64 slot) external view returns (uint256);
}
