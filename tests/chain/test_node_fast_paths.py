"""Node's own encoding of call data and decoding of view answers (chain/node.py `_calldata`,
`Node.call`) give exactly what web3's contract functions give: the same bytes for every function
of every contract, and the same values, of the same types, for the views."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3

from chain.devchain import DevChain, dev_accounts, nonce_of
from chain.node import Node, Sender, _calldata
from gridshare.settings import load_settings
from tests.fixtures import chain, chain_node  # noqa: F401

BUILD = Path(__file__).resolve().parents[2] / "build" / "contracts"
CONTRACTS = sorted(
    p.stem
    for p in BUILD.glob("*.json")
    if any(i.get("type") == "function" for i in json.loads(p.read_text()).get("abi", []))
)
ADDRESS = to_checksum_address("0x90f79bf6eb2c4f870365e785982e1f101e93b906")


def _sample(param: Mapping[str, Any], seed: int) -> Any:
    """A value of `param`'s ABI type (arrays of two, structs field by field)."""
    kind = str(param["type"])
    if kind.endswith("]"):
        inner = {**param, "type": kind[: kind.rindex("[")]}
        size = kind[kind.rindex("[") + 1 : -1]
        return [_sample(inner, seed + k) for k in range(int(size) if size else 2)]
    if kind == "tuple":
        return tuple(_sample(c, seed + k) for k, c in enumerate(param["components"]))
    if kind == "address":
        return ADDRESS
    if kind == "bool":
        return seed % 2 == 1
    if kind.startswith("uint"):
        return (seed * 7919 + 1) % 2 ** min(int(kind[4:] or 256), 64)
    if kind.startswith("int"):
        return -seed - 1
    if kind == "bytes":
        return bytes([seed % 256]) * 5
    if kind.startswith("bytes"):
        return bytes([seed % 256]) * int(kind[5:])
    if kind == "string":
        return f"s{seed}"
    raise AssertionError(f"no sample for {kind}")


@pytest.mark.parametrize("contract", CONTRACTS)
def test_call_data_is_web3s_for_every_function(contract: str) -> None:
    abi = json.loads((BUILD / f"{contract}.json").read_text())["abi"]
    handle = Web3().eth.contract(address=ADDRESS, abi=abi)
    functions = [i for i in abi if i.get("type") == "function"]
    assert functions
    for k, item in enumerate(functions):
        args = [_sample(p, k + j) for j, p in enumerate(item["inputs"])]
        fn = handle.get_function_by_signature(
            f"{item['name']}({','.join(_signature_type(p) for p in item['inputs'])})"
        )(*args)
        assert _calldata(fn) == fn._encode_transaction_data(), item["name"]


def _signature_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_signature_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


def test_a_bytes_argument_as_hex_goes_through_web3s_encoder() -> None:
    abi = json.loads((BUILD / "EnergyToken.json").read_text())["abi"]
    handle = Web3().eth.contract(address=ADDRESS, abi=abi)
    (item,) = [i for i in abi if i.get("name") == "topUp"]
    assert [p["type"] for p in item["inputs"]] == ["address", "uint256", "bytes32"]
    fn = handle.functions.topUp(ADDRESS, 5, "0x" + "ab" * 32)
    assert _calldata(fn) == fn._encode_transaction_data()
    assert _calldata(fn).endswith("ab" * 32)


def test_view_answers_have_web3s_values_and_types(chain: DevChain) -> None:  # noqa: F811
    settings = load_settings().model_copy(update={"deployments_dir": chain.deployments_dir})
    node = Node.from_settings(chain.network_id, settings)
    community, settlement = node.contract("Community"), node.contract("Settlement")
    token, readings = node.contract("EnergyToken"), node.contract("ImbalanceSettlement")
    member = node.manifest.contracts["Community"]
    calls = [
        community.functions.tariffAt(0),  # a struct
        community.functions.tariffEntry(0),  # two outputs, one a struct
        community.functions.feeAccount(),  # an address
        settlement.functions.holders([member, ADDRESS]),  # three arrays
        settlement.functions.tradesOf(1),  # bytes32 and a number
        node.contract("OrderBook").functions.slotBook(3),  # an empty array
        readings.functions.digestAt(0, 0),
        token.functions.balanceOf(member),
        token.functions.name(),  # a string
    ]
    for fn in calls:
        ours, web3s = node.call(fn), fn.call()
        assert ours == web3s and _types(ours) == _types(web3s), fn.fn_name
    block = node.block_number()
    assert node.call(community.functions.tariffAt(0), block) == calls[0].call()


def _types(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return (type(value), [_types(v) for v in value])
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    return type(value)


def test_receipts_and_logs_have_web3s_values_and_types(chain: DevChain) -> None:  # noqa: F811
    settings = load_settings().model_copy(update={"deployments_dir": chain.deployments_dir})
    node = Node.from_settings(chain.network_id, settings)
    token = node.contract("EnergyToken")
    owner, spender, other = dev_accounts(node)[5:8]
    first = node.block_number() + 1
    mined = [
        node.transact(token.functions.approve(spender, 10**9 + k), Sender(owner)) for k in range(2)
    ]
    mined += node.transact_many(
        [(token.functions.approve(other, 7), Sender(owner), 100_000, nonce_of(node, owner))]
    )
    for receipt in mined:
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        web3s = node.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        assert receipt == web3s and _types(dict(receipt)) == _types(dict(web3s))
        assert node.receipt(tx_hash) == web3s and receipt["logs"], tx_hash
    address = node.manifest.contracts["EnergyToken"]
    ours = node.get_logs([address], first, node.block_number())
    web3s_logs = node.w3.eth.get_logs(
        {"address": [address], "fromBlock": first, "toBlock": node.block_number()}
    )
    assert len(ours) == 3 and ours == web3s_logs
    assert [_types(dict(log)) for log in ours] == [_types(dict(log)) for log in web3s_logs]
    (approval,) = node.events(
        "EnergyToken", "Approval", from_block=first, argument_filters={"spender": other}
    )
    assert approval["args"]["value"] == 7
    assert node.receipt("0x" + "00" * 32) is None
    latest = node.w3.eth.get_block("latest")
    assert node.head() == (latest["number"], latest["timestamp"])
    assert node.block_timestamp(first) == node.w3.eth.get_block(first)["timestamp"]
    assert node.block_gas_limit() == latest["gasLimit"]
    # What benchmarks add up, read in batches (a chunk smaller than the blocks, so two).
    gas = [
        ("EnergyToken", "approve", int(r["gasUsed"]), "0x" + bytes(r["transactionHash"]).hex())
        for r in mined
    ]
    assert node.mined_calls(first, chunk=2) == node.mined_calls(first) == gas
