// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title SignedNonces
/// @notice The replay protection of relayed EIP-712 intents (an owner signs, anyone relays): an
/// intent carries an owner-chosen nonce, usable once, and a deadline; the signature must recover to
/// the owner, checked in that order. The one copy of these checks: OrderBook (placeOrderWithSig,
/// cancelOrderWithSig) and Flexibility (offerWithSig) call it. The caller keeps the used-nonce map
/// (its public `nonceUsed` view), turns a refusal into its own named error (`<Contract><Condition>`)
/// and emits its own event.
library SignedNonces {
    /// @notice Why an intent was refused (Ok: accepted, its nonce is now used).
    enum Refusal {
        Ok,
        Expired,
        NonceUsed,
        BadSignature
    }

    /// @notice Check the intent whose EIP-712 digest is `digest` and, if it passes, mark
    /// `used[owner][nonce]`. Returns the refusal (Ok when accepted) and the recovered signer
    /// (address(0) when the signature does not recover).
    function use(
        mapping(address => mapping(uint256 => bool)) storage used,
        address owner,
        uint256 nonce,
        uint256 deadline,
        bytes32 digest,
        bytes calldata signature
    ) internal returns (Refusal refusal, address signer) {
        signer = address(0);
        if (block.timestamp > deadline) return (Refusal.Expired, signer);
        if (used[owner][nonce]) return (Refusal.NonceUsed, signer);
        // A failed recovery yields address(0), refused below with the signer check.
        // slither-disable-next-line unused-return
        (signer,,) = ECDSA.tryRecover(digest, signature);
        if (signer != owner || signer == address(0)) return (Refusal.BadSignature, signer);
        used[owner][nonce] = true;
        return (Refusal.Ok, signer);
    }
}
