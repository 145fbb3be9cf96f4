// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {ICommunity} from "./interfaces/ICommunity.sol";
import {MemberRole} from "./lib/MarketTypes.sol";

/// @title EnergyToken
/// @notice The community's prepaid token (see IEnergyToken). Every balance change goes through
/// OpenZeppelin's `_update`, which emits `Transfer` and never lets a balance go below zero. What a
/// balance cannot cover is recorded as debt, a claim outside the token supply.
contract EnergyToken is ERC20, ERC20Permit, AccessControl, IEnergyToken {
    /// @notice May mint against recorded top-ups (the DSO's treasury).
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    /// @notice May pull escrow from members into itself (the order book).
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    /// @notice May charge members, recording debt where a balance falls short (imbalance, service
    /// fees, exit penalties).
    bytes32 public constant COLLECTOR_ROLE = keccak256("COLLECTOR_ROLE");

    /// @notice The community whose members (and the DSO's supply, fee and network accounts) may
    /// receive top-ups.
    ICommunity public immutable community;
    /// @inheritdoc IEnergyToken
    mapping(bytes32 paymentRef => bool) public topUpRecorded;
    /// @inheritdoc IEnergyToken
    uint256 public totalMinted;
    /// @inheritdoc IEnergyToken
    uint256 public totalRedeemed;
    /// @inheritdoc IEnergyToken
    mapping(address member => uint256) public debtOf;
    /// @inheritdoc IEnergyToken
    mapping(address member => mapping(address creditor => uint256)) public debtTo;
    /// @inheritdoc IEnergyToken
    uint256 public totalDebt;
    /// @dev The amount field of a `settleNet` entry (bits 160..254).
    uint256 private constant AMOUNT_MASK = (1 << 95) - 1;
    /// @dev Creditors a member owes, in the order the debts arose (repaid in that order).
    mapping(address member => address[]) private _creditors;

    /// @param admin Holder of the admin role (the DSO), which grants the other roles.
    /// @param community_ The community consulted on every top-up (see `mayReceiveTopUp`).
    constructor(address admin, ICommunity community_)
        ERC20("gridshare prepaid euro", "gEUR")
        ERC20Permit("gridshare prepaid euro")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        community = community_;
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
        if (!mayReceiveTopUp(member)) revert EnergyTokenNotMember(member);
        topUpRecorded[paymentRef] = true;
        totalMinted += amount;
        _mint(member, amount);
        emit TopUp(member, amount, paymentRef);
        if (debtOf[member] != 0) _repay(member);
    }

    /// @inheritdoc IEnergyToken
    function mayReceiveTopUp(address account) public view returns (bool) {
        // Only the role is needed: a leaving member still receives, to pay its debts (triaged:
        // docs/security.md).
        // slither-disable-next-line unused-return
        (MemberRole role,,,,) = community.memberInfo(account);
        if (role != MemberRole.None) return true;
        return account != address(0)
            && (account == community.supplyAccount() || account == community.feeAccount()
                || account == community.networkAccount());
    }

    /// @inheritdoc IEnergyToken
    function redeem(uint256 amount, bytes32 payoutRef) external {
        if (amount == 0) revert EnergyTokenZeroAmount();
        if (debtOf[msg.sender] != 0) _repay(msg.sender);
        totalRedeemed += amount;
        _burn(msg.sender, amount);
        emit Redeemed(msg.sender, amount, payoutRef);
    }

    /// @inheritdoc IEnergyToken
    function marketPull(address member, uint256 amount) external onlyRole(MARKET_ROLE) {
        _transfer(member, msg.sender, amount);
    }

    /// @inheritdoc IEnergyToken
    function settleNet(uint256[] calldata entries) external onlyRole(MARKET_ROLE) {
        uint256 n = entries.length;
        for (uint256 i; i < n; ++i) {
            uint256 e = entries[i];
            address account = address(uint160(e));
            uint256 amount = (e >> 160) & AMOUNT_MASK;
            if (e >> 255 == 1) _transfer(account, msg.sender, amount);
            else _transfer(msg.sender, account, amount);
        }
    }

    /// @inheritdoc IEnergyToken
    function spendableOf(address member) external view returns (uint256) {
        uint256 balance = balanceOf(member);
        uint256 debt = debtOf[member];
        return balance > debt ? balance - debt : 0;
    }

    /// @inheritdoc IEnergyToken
    function transferBatch(uint256[] calldata transfers) external {
        uint256 n = transfers.length;
        for (uint256 i; i < n; ++i) {
            uint256 t = transfers[i];
            _transfer(msg.sender, address(uint160(t)), t >> 160);
        }
    }

    /// @inheritdoc IEnergyToken
    function transferFromBatch(uint256[] calldata debits) external {
        uint256 n = debits.length;
        for (uint256 i; i < n; ++i) {
            uint256 d = debits[i];
            address from = address(uint160(d));
            uint256 amount = d >> 160;
            _spendAllowance(from, msg.sender, amount);
            _transfer(from, msg.sender, amount);
        }
    }

    /// @inheritdoc IEnergyToken
    function collect(address member, uint256[] calldata charges)
        external
        onlyRole(COLLECTOR_ROLE)
        returns (uint256 collected)
    {
        uint256 balance = balanceOf(member);
        uint256 n = charges.length;
        for (uint256 i; i < n; ++i) {
            address creditor = address(uint160(charges[i]));
            uint256 amount = charges[i] >> 160;
            uint256 covered = amount < balance ? amount : balance;
            if (covered != 0) {
                balance -= covered;
                collected += covered;
                _transfer(member, creditor, covered);
            }
            if (amount > covered) _recordDebt(member, creditor, amount - covered);
        }
    }

    /// @inheritdoc IEnergyToken
    function repayDebt(address member) external returns (uint256 repaid) {
        return _repay(member);
    }

    /// @notice Creditors `member` owes, in repayment order.
    function creditorsOf(address member) external view returns (address[] memory) {
        return _creditors[member];
    }

    function _recordDebt(address member, address creditor, uint256 amount) private {
        if (debtTo[member][creditor] == 0) _creditors[member].push(creditor);
        debtTo[member][creditor] += amount;
        debtOf[member] += amount;
        totalDebt += amount;
        emit DebtRecorded(member, creditor, amount);
    }

    /// @dev Pay debts oldest creditor first while the balance lasts; creditors paid in full leave the
    /// list. At most a handful of creditors exist (the DSO's accounts), so the loop is short.
    function _repay(address member) private returns (uint256 repaid) {
        uint256 balance = balanceOf(member);
        address[] storage creditors = _creditors[member];
        while (creditors.length != 0 && balance != 0) {
            address creditor = creditors[0];
            uint256 owed = debtTo[member][creditor];
            uint256 paid = owed < balance ? owed : balance;
            balance -= paid;
            repaid += paid;
            debtTo[member][creditor] = owed - paid;
            if (paid == owed) {
                // Keep the order of the remaining creditors: shift them down by one.
                uint256 last = creditors.length - 1;
                for (uint256 i; i < last; ++i) {
                    creditors[i] = creditors[i + 1];
                }
                creditors.pop();
            }
            _transfer(member, creditor, paid);
            emit DebtRepaid(member, creditor, paid);
        }
        if (repaid != 0) {
            debtOf[member] -= repaid;
            totalDebt -= repaid;
        }
    }
}
