// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";

/// @title EnergyToken
/// @notice The community's prepaid token (see IEnergyToken). Every balance change goes through
/// OpenZeppelin's `_update`, which emits `Transfer` and never lets a balance go below zero.
contract EnergyToken is ERC20, ERC20Permit, AccessControl, IEnergyToken {
    /// @notice May mint against recorded top-ups (the DSO's treasury).
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    /// @notice May pull escrow from members into itself (the order book).
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");

    /// @inheritdoc IEnergyToken
    mapping(bytes32 paymentRef => bool) public topUpRecorded;
    /// @inheritdoc IEnergyToken
    uint256 public totalMinted;
    /// @inheritdoc IEnergyToken
    uint256 public totalRedeemed;

    /// @param admin Holder of the admin role (the DSO), which grants the other roles.
    constructor(address admin) ERC20("gridshare prepaid euro", "gEUR") ERC20Permit("gridshare prepaid euro") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice 9 decimals: one base unit is one nano-euro.
    function decimals() public pure override returns (uint8) {
        return 9;
    }

    /// @inheritdoc IEnergyToken
    function topUp(address member, uint256 amount, bytes32 paymentRef) external onlyRole(TREASURER_ROLE) {
        if (amount == 0) revert EnergyTokenZeroAmount();
        if (paymentRef == bytes32(0)) revert EnergyTokenMissingReference();
        if (topUpRecorded[paymentRef]) revert EnergyTokenReferenceUsed(paymentRef);
        topUpRecorded[paymentRef] = true;
        totalMinted += amount;
        _mint(member, amount);
        emit TopUp(member, amount, paymentRef);
    }

    /// @inheritdoc IEnergyToken
    function redeem(uint256 amount, bytes32 payoutRef) external {
        if (amount == 0) revert EnergyTokenZeroAmount();
        totalRedeemed += amount;
        _burn(msg.sender, amount);
        emit Redeemed(msg.sender, amount, payoutRef);
    }

    /// @inheritdoc IEnergyToken
    function marketPull(address member, uint256 amount) external onlyRole(MARKET_ROLE) {
        _transfer(member, msg.sender, amount);
    }

    /// @inheritdoc IEnergyToken
    function transferBatch(uint256[] calldata transfers) external {
        uint256 n = transfers.length;
        for (uint256 i; i < n; ++i) {
            uint256 t = transfers[i];
            _transfer(msg.sender, address(uint160(t)), t >> 160);
        }
    }
}
