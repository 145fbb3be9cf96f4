// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice Value types shared by the gridshare contracts.
/// Units: energy in Wh, money in n€ (token base unit, 9 decimals), prices in n€/Wh (== µ€/kWh).

/// @notice Order side.
enum Side {
    Buy,
    Sell
}

/// @notice Clearing mode of a slot (market-rules.md, "Clearing modes").
enum Mode {
    Uniform,
    PayAsBid,
    Community
}

/// @notice Member role. `None` marks an address that is not (or no longer) a member.
enum MemberRole {
    None,
    Consumer,
    Prosumer,
    Prosumager,
    Battery
}

/// @notice The tariff and market rules in force for a slot. All prices in n€/Wh, `serviceFee` in n€
/// per member and period. Every price is below 2**40 so that `price * energy` fits easily.
/// `sharingPrice` is the price of a shared Wh in the `sharing` mode (SharingSettlement); it comes
/// last so that the fields before it keep their positions.
struct Tariff {
    uint64 retailPrice;
    uint64 feedInPrice;
    uint64 gridFee;
    uint64 p2pGridFee;
    uint64 tradeFeeBuy;
    uint64 tradeFeeSell;
    uint64 communityPrice;
    uint64 serviceFee;
    Mode mode;
    uint64 sharingPrice;
}

/// @notice The energy-sharing key of a community deployed in the `sharing` mode (market-rules.md,
/// "Energy sharing"): `Dynamic` allots in proportion to participating consumption, `Static` by each
/// member's fixed share in ppm.
enum SharingKey {
    Dynamic,
    Static
}
