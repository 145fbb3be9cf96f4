"""`chain.events.word_decoder`, the word-by-word decoding of events' elementary types, against
eth_abi itself (pure logic): for any 32-byte word, the same value of the same type, or the same
error; and an event's logs decode to the same arguments by either path."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode
from eth_abi.exceptions import InsufficientDataBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.events import EventCodec, unpacked, word_decoder

ELEMENTARY = (
    ["address", "bool", "uint256", "int256", "bytes32"]
    + [f"uint{n}" for n in (8, 16, 32, 40, 48, 64, 96, 112, 128, 160)]
    + [f"int{n}" for n in (8, 64, 128)]
    + [f"bytes{n}" for n in (1, 4, 20, 31)]
)


def _abi(kind: str, word: bytes) -> tuple[str, Any]:
    try:
        return "ok", abi_decode([kind], word)[0]
    except Exception as exc:  # the class is what is compared
        return type(exc).__name__, None


def _fast(kind: str, word: bytes) -> tuple[str, Any]:
    decode = word_decoder(kind)
    assert decode is not None
    try:
        return "ok", decode(word)
    except Exception as exc:
        return type(exc).__name__, None


# Words near the types' edges (small values, sign extension, padding one bit off) as well as
# arbitrary ones.
WORDS = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=0, max_value=2**256 - 1).map(lambda v: v.to_bytes(32, "big")),
    st.integers(min_value=0, max_value=2**70).map(lambda v: v.to_bytes(32, "big")),
    st.integers(min_value=-(2**70), max_value=-1).map(lambda v: v.to_bytes(32, "big", signed=True)),
    st.integers(min_value=0, max_value=255).map(lambda s: (1 << s).to_bytes(32, "big")),
)


@settings(max_examples=600, deadline=None)
@given(kind=st.sampled_from(ELEMENTARY), word=WORDS)
def test_a_word_decodes_as_eth_abi_decodes_it(kind: str, word: bytes) -> None:
    want, got = _abi(kind, word), _fast(kind, word)
    assert got[0] == want[0]
    assert got[1] == want[1] and type(got[1]) is type(want[1])


@pytest.mark.parametrize("kind", ["string", "bytes", "uint256[]", "(uint64,address)", "uint7"])
def test_types_eth_abi_must_decode_have_no_word_decoder(kind: str) -> None:
    assert word_decoder(kind) is None


VALUES = {
    "address": st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    "bool": st.booleans(),
    "uint64": st.integers(min_value=0, max_value=2**64 - 1),
    "uint256": st.integers(min_value=0, max_value=2**256 - 1),
    "int256": st.integers(min_value=-(2**255), max_value=2**255 - 1),
    "bytes32": st.binary(min_size=32, max_size=32),
}


@settings(max_examples=200, deadline=None)
@given(data=st.data(), types=st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=8))
def test_an_events_log_decodes_alike_by_words_and_by_eth_abi(
    data: st.DataObject, types: list[str]
) -> None:
    """A log with an indexed first argument and the rest in its data: the word path and
    eth_abi's (forced by a dynamic type beside them) give the same arguments."""
    values = [data.draw(VALUES[t]) for t in types]
    inputs = [{"type": t, "indexed": i == 0} for i, t in enumerate(types)]
    names = [f"a{i}" for i in range(len(types))]
    codec = EventCodec.of(inputs, names)
    assert codec.data_decoders is not None
    log: Any = {
        "topics": [b"\0" * 32, encode([types[0]], [values[0]])],
        "data": encode(types[1:], values[1:]),
        "transactionHash": b"\1" * 32,
    }
    by_words = codec.args(log)
    by_abi = EventCodec(codec.topic_params, codec.data_names, codec.data_types).args(log)
    assert by_words == by_abi
    assert {k: type(v) for k, v in by_words.items()} == {k: type(v) for k, v in by_abi.items()}


def test_a_log_with_too_few_data_bytes_is_refused_by_either_path() -> None:
    inputs: list[dict[str, Any]] = [
        {"type": "address", "indexed": True},
        {"type": "uint64"},
        {"type": "uint256"},
    ]
    codec = EventCodec.of(inputs, ["member", "slot", "amount"])
    log: Any = {
        "topics": [b"\0" * 32, encode(["address"], ["0x" + "ab" * 20])],
        "data": encode(["uint64"], [7]),  # one word of two
        "transactionHash": b"\1" * 32,
    }
    for path in (codec, EventCodec(codec.topic_params, codec.data_names, codec.data_types)):
        with pytest.raises(InsufficientDataBytes):
            path.args(log)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(-(2**127), 2**127 - 1),
    st.integers(0, 2**128 - 1),
    st.integers(0, 2**128 - 1),
)
def test_packed_figures_come_back_as_the_contract_packed_them(
    imported: int, exported: int, traded: int, credit: int, charge: int
) -> None:
    """ImbalanceSettled's packing as ImbalanceSettlement writes it (a signed figure in two's
    complement in its bits) unpacks to the figures, in the arguments' place and order."""
    position = imported | exported << 64 | (traded % 2**128) << 128
    args = {"slot": 7, "member": "0xabc", "position": position}
    args |= {"creditAndEnergyCharge": credit | charge << 128, "networkChargeAndCollected": 5}
    got = unpacked("ImbalanceSettled", {**args, "bauCost": -3})
    want = {
        "slot": 7,
        "member": "0xabc",
        "importWh": imported,
        "exportWh": exported,
        "tradedNetSoldWh": traded,
        "credit": credit,
        "energyCharge": charge,
        "networkCharge": 5,
        "collected": 0,
        "bauCost": -3,
    }
    assert list(got.items()) == list(want.items())  # the order too: the index's columns follow it
    assert unpacked("SlotDigest", args) == args  # an event with nothing packed is left alone
