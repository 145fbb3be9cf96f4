"""Signed order intents: the batched path of an order into a slot's settlement.

An intent is an order for one slot that its owner signs (EIP-712, domain "gridshare Settlement")
and the matcher carries in the calldata of the slot's `Settlement.settleSlot`. It never touches
storage: its id is its EIP-712 struct hash read as an unsigned integer (market-rules.md, "Orders"),
which ranks it among equal prices and is the same on every machine, and a member revokes all its
outstanding intents at once by moving its nonce epoch on (`Settlement.revokeIntents`).

Pure: the type string must match Settlement.sol's INTENT_TYPEHASH; the domain (chain id,
contract address) is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

from coincurve import PrivateKey
from eth_abi.abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.hexadecimal import decode_hex

from chain.codec import SIDE_CODES, decode_order_word
from chain.signing import domain, struct_fields, typed_data
from market.units import is_int

SETTLEMENT_DOMAIN_NAME = "gridshare Settlement"
INTENT_TYPE = struct_fields(
    "address owner,uint64 slot,uint8 side,uint256 energyWh,uint256 limitPrice,uint256 epoch,"
    "uint256 deadline"
)
INTENT_TYPE_STRING = "Intent(" + ",".join(f"{f['type']} {f['name']}" for f in INTENT_TYPE) + ")"
INTENT_TYPEHASH = keccak(text=INTENT_TYPE_STRING)
_STRUCT_TYPES = ["bytes32", *(f["type"] for f in INTENT_TYPE)]  # the typehash, then the fields
_MASK40 = (1 << 40) - 1
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Intent:
    """An order for one slot, as its owner signs it."""

    owner: str
    slot: int
    side: str  # "buy" | "sell"
    energy_wh: int
    limit_price: int  # n€ per Wh
    epoch: int  # the owner's nonce epoch the intent is valid under
    deadline: int  # unix seconds: the last moment a settlement may carry it

    def __post_init__(self) -> None:
        if self.side not in SIDE_CODES:
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        for name in ("slot", "energy_wh", "limit_price", "epoch", "deadline"):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not 0 < self.energy_wh <= _MASK40 or self.limit_price > _MASK40:
            raise ValueError("energy_wh must be in 1..2**40-1 and limit_price below 2**40")
        if self.slot >= 1 << 64 or self.deadline >= 1 << 64 or self.epoch >= 1 << 256:
            raise ValueError("slot and deadline must fit 64 bits")

    @property
    def id(self) -> int:
        """The intent's id: its EIP-712 struct hash as an unsigned integer (domain-free, so the
        same for a dry run and any chain)."""
        return intent_id(self)

    def order_word(self) -> int:
        """The intent as an order word (contracts/lib/OrderWord.sol)."""
        return pack_order_word(self.owner, self.side, self.energy_wh, self.limit_price)

    def event_aux(self) -> int:
        """The intent's word in SlotSettled's `intentAux`: `deadline | epoch << 64`."""
        return self.deadline | (self.epoch << 64)

    @classmethod
    def of_settled(cls, slot: int, word: int, aux: int) -> Intent:
        """The intent a settlement of `slot` carried, from SlotSettled's order word and aux word
        (its id is then the one the contract verified); ValueError if they hold no intent."""
        entry = decode_order_word(0, word)
        return cls(
            to_checksum_address(entry.owner),
            slot,
            entry.side,
            entry.energy_wh,
            entry.price,
            aux >> 64,
            aux & _MASK64,
        )

    def as_tuple(self) -> tuple[str, int, int, int, int, int, int]:
        """The struct's values in the order of INTENT_TYPE: what the owner signs and what
        Settlement hashes."""
        return (
            to_checksum_address(self.owner),
            self.slot,
            SIDE_CODES[self.side],
            self.energy_wh,
            self.limit_price,
            self.epoch,
            self.deadline,
        )


@dataclass(frozen=True, slots=True)
class SignedIntent:
    """An intent with its owner's 65-byte signature (r, s, v)."""

    intent: Intent
    signature: bytes

    def compact(self) -> tuple[bytes, bytes]:
        """The EIP-2098 compact signature (r, vs) the contract takes."""
        return compact_signature(self.signature)


def pack_order_word(owner: str, side: str, energy_wh: int, price: int) -> int:
    """Pack an order word: owner, energy (40 bits), limit price (40 bits), side bit 240."""
    word = int(owner, 16) | (energy_wh << 160) | (price << 200)
    return word | (1 << 240) if side == "sell" else word


@lru_cache(maxsize=1 << 16)
def intent_id(intent: Intent) -> int:
    """keccak256(abi.encode(INTENT_TYPEHASH, owner, slot, side, energyWh, limitPrice, epoch,
    deadline)) as an integer: what Settlement computes and ranks by. Cached (an intent is
    immutable): sorting a batch, ranking it, listing it and auditing it each ask for every id
    (a profiled day of bench/year hashed 4,161 intents 37,353 times, 8 of its 133 s)."""
    encoded = abi_encode(_STRUCT_TYPES, [INTENT_TYPEHASH, *intent.as_tuple()])
    return int.from_bytes(keccak(encoded), "big")


def intent_typed_data(intent: Intent, chain_id: int, settlement: str) -> dict[str, Any]:
    """The full EIP-712 message (as a wallet's eth_signTypedData_v4 takes it)."""
    return typed_data(
        "Intent",
        INTENT_TYPE,
        intent.as_tuple(),
        domain(chain_id, to_checksum_address(settlement), SETTLEMENT_DOMAIN_NAME),
    )


def compact_signature(signature: bytes) -> tuple[bytes, bytes]:
    """(r, vs) of EIP-2098 from a 65-byte (r, s, v) signature; v may be 0/1 or 27/28."""
    if len(signature) != 65:
        raise ValueError(f"a signature has 65 bytes, got {len(signature)}")
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    parity = v - 27 if v >= 27 else v
    if parity not in (0, 1):
        raise ValueError(f"signature v must be 27 or 28 (or 0 or 1), got {v}")
    return r, (s | (parity << 255)).to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class IntentBatch:
    """ISettlement.IntentBatch: the intents in ascending id order, two words each, their compact
    signatures, and the holders listed once each, ascending."""

    intents: tuple[SignedIntent, ...]
    members: tuple[str, ...]

    @classmethod
    def of(cls, signed: Sequence[SignedIntent]) -> IntentBatch:
        ordered = sorted(signed, key=lambda s: s.intent.id)
        for a, b in pairwise(ordered):
            if a.intent.id == b.intent.id:
                raise ValueError(f"intent {a.intent.id:#x} appears twice")
        members = sorted({s.intent.owner.lower() for s in ordered}, key=lambda a: int(a, 16))
        return cls(tuple(ordered), tuple(members))

    def args(self) -> tuple[list[int], list[bytes], list[str]]:
        """The ABI tuple of the batch."""
        index = {m: k for k, m in enumerate(self.members)}
        words: list[int] = []
        signatures: list[bytes] = []
        for s in self.intents:
            i = s.intent
            words.append(i.order_word())
            words.append(i.deadline | (index[i.owner.lower()] << 64))
            signatures.extend(s.compact())
        return words, signatures, [to_checksum_address(m) for m in self.members]


EMPTY_BATCH = IntentBatch((), ())


def sign_intent(intent: Intent, chain_id: int, settlement: str, private_key: bytes | str) -> bytes:
    """The owner's 65-byte signature of `intent`, the same as `sign_typed_data` of its
    `intent_typed_data` gives, from the intent's id (its struct hash, already computed) and
    the domain's hash: a household's wallet in the simulation signs a hundred intents a slot,
    and hashing the whole typed message again for each was most of that time."""
    digest = keccak(
        b"\x19\x01" + _domain_hash(chain_id, settlement) + intent.id.to_bytes(32, "big")
    )
    # libsecp256k1 directly (eth-account's own backend): the same deterministic low-s signature
    # as `Account.unsafe_sign_hash`, at about a third of its time.
    key = private_key if isinstance(private_key, bytes) else decode_hex(private_key)
    signature = PrivateKey(key).sign_recoverable(digest, hasher=None)
    return signature[:64] + bytes([signature[64] + 27])


@lru_cache(maxsize=16)
def _domain_hash(chain_id: int, settlement: str) -> bytes:
    """The EIP-712 hash of the Settlement's domain (Settlement.domainSeparator()), taken from
    eth-account's encoding of a message under it."""
    blank = Intent("0x" + "00" * 20, 0, "buy", 1, 0, 0, 0)  # any message of the domain
    return bytes(
        encode_typed_data(full_message=intent_typed_data(blank, chain_id, settlement)).header
    )
