// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title SortedAddresses
/// @notice Lookup in a list of addresses sorted strictly ascending (the member lists that
/// ImbalanceSettlement and Flexibility take from the matcher, checked ascending by their callers).
library SortedAddresses {
    /// @notice Binary search: whether `member` is in the ascending list `members`, and its index
    /// (0 when absent). O(log n) memory reads.
    function find(address[] memory members, address member) internal pure returns (bool found, uint256 index) {
        uint256 lo = 0;
        uint256 hi = members.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            address at = members[mid];
            if (at == member) return (true, mid);
            if (at < member) lo = mid + 1;
            else hi = mid;
        }
        return (false, 0);
    }
}
