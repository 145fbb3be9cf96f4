// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IEnergyToken} from "../interfaces/IEnergyToken.sol";
import {IOrderBook} from "../interfaces/IOrderBook.sol";

/// @title InvariantLens (test harness only)
/// @notice Reads everything the stateful tests check after each step in one eth_call. It computes
/// nothing: the tests recompute every expected value in Python.
contract InvariantLens {
    struct Snapshot {
        uint256 supply;
        uint256 minted;
        uint256 redeemed;
        uint256[] balances;
        uint256 escrowHeld;
        uint256[] slotEscrows;
        uint256[][] books;
        uint256[] debts;
        uint256 totalDebt;
    }

    /// @notice Token totals, balances and debts of `holders`, and escrow and book words of `slots`.
    function read(IEnergyToken token, address[] calldata holders, IOrderBook book, uint64[] calldata slots)
        external
        view
        returns (Snapshot memory s)
    {
        s.supply = token.totalSupply();
        s.minted = token.totalMinted();
        s.redeemed = token.totalRedeemed();
        s.balances = new uint256[](holders.length);
        s.debts = new uint256[](holders.length);
        for (uint256 i; i < holders.length; ++i) {
            s.balances[i] = token.balanceOf(holders[i]);
            s.debts[i] = token.debtOf(holders[i]);
        }
        s.totalDebt = token.totalDebt();
        s.escrowHeld = book.escrowHeld();
        s.slotEscrows = new uint256[](slots.length);
        s.books = new uint256[][](slots.length);
        for (uint256 i; i < slots.length; ++i) {
            s.slotEscrows[i] = book.slotEscrow(slots[i]);
            s.books[i] = book.slotBook(slots[i]);
        }
    }
}
