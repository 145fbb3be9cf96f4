// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title HashChain
/// @notice The running hash that commits a slot's readings: each word extends it as
/// keccak256(abi.encodePacked(h, word)) (chain/metering.py `readings_hash` computes the same).
library HashChain {
    /// @notice `h` extended by `word`, hashed in the scratch space: a batch links one word per
    /// reading, and allocating each link would grow memory (whose cost grows with the square of
    /// its size) with the batch.
    function link(bytes32 h, uint256 word) internal pure returns (bytes32 linked) {
        assembly ("memory-safe") {
            mstore(0x00, h)
            mstore(0x20, word)
            linked := keccak256(0x00, 0x40)
        }
    }
}
