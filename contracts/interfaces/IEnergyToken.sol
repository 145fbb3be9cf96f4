// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title The prepaid energy token
/// @notice 1 token = 1 € with 9 decimals: the base unit is one nano-euro (n€). Tokens are minted only
/// by the DSO's treasurer against a recorded off-chain payment (a top-up) and burned when a holder
/// redeems them. Supply == minted − redeemed == sum of all balances, at all times.
interface IEnergyToken is IERC20 {
    /// @notice A top-up was paid off-chain (reference `paymentRef`) and `amount` n€ minted to `member`.
    event TopUp(address indexed member, uint256 amount, bytes32 indexed paymentRef);
    /// @notice `holder` burned `amount` n€ to be paid out off-chain (reference `payoutRef`).
    event Redeemed(address indexed holder, uint256 amount, bytes32 indexed payoutRef);

    /// @notice A charge of `amount` n€ owed to `creditor` could not be covered by `member`'s balance and
    /// was recorded as debt (paid first from the member's next top-up).
    event DebtRecorded(address indexed member, address indexed creditor, uint256 amount);
    /// @notice `amount` n€ of `member`'s debt to `creditor` was paid from its balance.
    event DebtRepaid(address indexed member, address indexed creditor, uint256 amount);

    /// @notice A top-up or redemption of zero.
    error EnergyTokenZeroAmount();
    /// @notice A top-up without a payment reference.
    error EnergyTokenMissingReference();
    /// @notice The payment reference was already used by an earlier top-up.
    error EnergyTokenReferenceUsed(bytes32 paymentRef);
    /// @notice A top-up to `account`, which is neither a member of the community (a leaving member
    /// still is, until its exit completes) nor one of the DSO's supply, fee and network accounts.
    error EnergyTokenNotMember(address account);

    /// @notice Mint `amount` n€ to `member` against the off-chain payment `paymentRef` (each reference
    /// once), then pay the member's debts from it first. Only the treasurer role (the DSO), and only
    /// to an account `mayReceiveTopUp` accepts (else `EnergyTokenNotMember`).
    /// @param member The member credited.
    /// @param amount Amount in n€.
    /// @param paymentRef Unique reference of the off-chain payment (e.g. a hash of the bank reference).
    function topUp(address member, uint256 amount, bytes32 paymentRef) external;

    /// @notice Whether `account` may receive a top-up: a member of the community (a leaving member
    /// too, so it can pay what it owes before its exit completes) or the community's supply, fee or
    /// network account (the DSO's own accounts, funded to pay feed-in and flexibility).
    function mayReceiveTopUp(address account) external view returns (bool);

    /// @notice Burn `amount` n€ of the caller's tokens for an off-chain payout. Debts are paid from
    /// the balance first, so a member cannot redeem tokens it owes.
    /// @param amount Amount in n€.
    /// @param payoutRef Free reference for the payout (e.g. a hash of the member's IBAN).
    function redeem(uint256 amount, bytes32 payoutRef) external;

    /// @notice Move `amount` n€ from `member` to the calling market contract (escrow for an order the
    /// member signed). Only contracts holding the market role.
    function marketPull(address member, uint256 amount) external;

    /// @notice Settle many accounts against the calling market contract in one call, each account
    /// written once: one word per account, `uint160(account) | amount << 160 | debit << 255`
    /// (amount below 2**95). A debit moves `amount` from the account to the caller, a credit from
    /// the caller to the account; entries are applied in order, so the caller lists its debits
    /// before the credits they fund. Only contracts holding the market role.
    function settleNet(uint256[] calldata entries) external;

    /// @notice What `member` can spend: its balance less its debt (0 if the debt is larger).
    function spendableOf(address member) external view returns (uint256);

    /// @notice Transfer from the caller to many recipients in one call (settlement payouts).
    /// @param transfers One word per transfer: recipient in the low 160 bits, amount in n€ in the
    /// high 96 bits (`uint160(to) | amount << 160`); repeats allowed. One word instead of two
    /// arrays halves the calldata a settlement copies per member.
    function transferBatch(uint256[] calldata transfers) external;

    /// @notice Pull each packed debit (`uint160(from) | amount << 160`) from `from` to the caller,
    /// against the allowance `from` gave the caller (a standing mandate: the battery lease a lessee
    /// authorised once, revocable with `approve(caller, 0)`). One transaction for every lessee of a
    /// period instead of one from each lessee's wallet. Reverts with OpenZeppelin's
    /// `ERC20InsufficientAllowance` or `ERC20InsufficientBalance` naming the debit that fails.
    function transferFromBatch(uint256[] calldata debits) external;

    /// @notice Charge `member`: for each packed charge (`uint160(creditor) | amount << 160`), in order,
    /// move what the balance covers to the creditor and record the rest as debt to it. A balance
    /// never goes below zero. Only contracts holding the collector role.
    /// @return collected Total n€ moved from the member's balance.
    function collect(address member, uint256[] calldata charges) external returns (uint256 collected);

    /// @notice Pay `member`'s debts from its balance, oldest creditor first, as far as the balance
    /// goes. Anyone may trigger it: it only moves the member's tokens to those it owes.
    /// @return repaid Total n€ repaid.
    function repayDebt(address member) external returns (uint256 repaid);

    /// @notice Total debt of `member`, in n€.
    function debtOf(address member) external view returns (uint256);

    /// @notice Debt of `member` to `creditor`, in n€.
    function debtTo(address member, address creditor) external view returns (uint256);

    /// @notice Sum of all members' debts, in n€ (a claim on future top-ups, not tokens).
    function totalDebt() external view returns (uint256);

    /// @notice Whether `paymentRef` was already used by a top-up.
    function topUpRecorded(bytes32 paymentRef) external view returns (bool);

    /// @notice Sum of all top-ups ever minted, in n€.
    function totalMinted() external view returns (uint256);

    /// @notice Sum of all redemptions ever burned, in n€.
    function totalRedeemed() external view returns (uint256);
}
