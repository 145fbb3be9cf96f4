// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IImbalanceSettlement} from "./IImbalanceSettlement.sol";
import {ISettlement} from "./ISettlement.sol";
import {Mode} from "../lib/MarketTypes.sol";

/// @title One matcher transaction per slot
/// @notice Settles a slot's trades (`ISettlement.settleSlot`) and, in the same transaction, a batch
/// of earlier (slot, chunk)s against the meters (`IImbalanceSettlement.settleImbalances`), so that a
/// community's settlement against meters rides on the slot settlements it needs anyway instead of
/// transactions of its own (docs/decisions.md, "Carried imbalance"). Nothing is checked or settled
/// here: both contracts check everything as if called alone, and any revert undoes both. The router
/// holds the community's MATCHER role (the contracts see it as the caller) and lets through only a
/// caller that holds the role itself.
interface ISettlementRouter {
    /// @notice `caller` does not hold the community's MATCHER role.
    error SettlementRouterNotMatcher(address caller);

    /// @notice `ISettlement.settleSlot(slot, mode, price, batch, fills, pairs)`, then
    /// `IImbalanceSettlement.settleImbalances(entries)` unless `entries` is empty. Only a matcher.
    /// @param entries (slot, chunk)s to settle against the meters, each chunk's in order; may be empty.
    function settleSlotAndImbalances(
        uint64 slot,
        Mode mode,
        uint256 price,
        ISettlement.IntentBatch calldata batch,
        uint256[] calldata fills,
        uint256[] calldata pairs,
        IImbalanceSettlement.ImbalanceEntry[] calldata entries
    ) external;
}
