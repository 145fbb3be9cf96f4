"""The connection to an Ethereum node (web3.py; brownie is for scripts and tests only).

It finds the node of a network id, loads the deployment manifest written by scripts/deploy.py,
hands out contract handles, and sends transactions. Every request goes through `Node.rpc`, which
retries connection failures with exponential backoff and says so in the log, so a service survives
a node restart without any logic of its own.

Sending is idempotent per attempt: a transaction is signed once (locally with a private key, or by
the node for one of its unlocked accounts via `eth_signTransaction`), so its hash is known before it
is sent, and re-sending the same bytes after a dropped connection cannot create a second
transaction. A revert, whether found by the gas estimate or in a mined receipt (then replayed as
a call to learn why), becomes a `TransactionReverted` carrying the custom error's name, decoded
against the manifest's ABIs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, cast

import requests
import yaml  # type: ignore[import-untyped]
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_account import Account
from eth_typing import ChecksumAddress, HexAddress, HexStr
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from web3 import Web3
from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.providers import HTTPProvider
from web3.types import (
    BlockData,
    BlockIdentifier,
    FilterParams,
    LogReceipt,
    Nonce,
    RPCEndpoint,
    TxParams,
    TxReceipt,
    Wei,
)

from chain.events import (
    EventCodec,
    EventMismatch,
    canonical_type,
    checksum,
    event_topic,
    is_dynamic,
    unpacked,
)
from gridshare.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
PLAIN_TRANSFER_GAS = 21_000  # an ether transfer to an account without code

# The node's types as the rest of the product names them: web3's, named here only.
Receipt: TypeAlias = TxReceipt  # a mined transaction's receipt
BlockHeader: TypeAlias = BlockData  # a block without its transactions' bodies
ContractHandle: TypeAlias = Contract  # a deployed contract (`Node.contract`)
ContractCall: TypeAlias = ContractFunction  # one of its functions with arguments, to call or send


class NodeError(Exception):
    """The node could not do what was asked (other than a contract revert)."""


class NodeUnavailable(NodeError):
    """The node stayed unreachable for `rpc_retry_limit` attempts."""


class BlockMissing(NodeError):
    """A block asked for is not (or no longer) on the node's chain."""


class TransactionReverted(NodeError):
    """A call or transaction reverted. `error` is the custom error's name (None if the revert data
    matched no error of the manifest's ABIs), `args` its decoded arguments."""

    def __init__(self, error: str | None, args: tuple[Any, ...], tx_hash: str | None) -> None:
        self.error = error
        self.error_args = args
        self.tx_hash = tx_hash
        where = f" in transaction {tx_hash}" if tx_hash else ""
        super().__init__(f"reverted{where}: {error or 'unknown error'}{args if args else ''}")


# ---------------------------------------------------------------------------------------------
# Where the node is and what is deployed on it


def resolve_rpc_url(network_id: str, settings: Settings) -> str:
    """The node's JSON-RPC URL: `settings.rpc_url` if given, else the host and port of the
    network with this id in brownie's network config (the file `brownie networks add` writes)."""
    if settings.rpc_url:
        return settings.rpc_url
    path = settings.brownie_network_config.expanduser()
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise NodeError(f"no rpc_url set and cannot read {path}: {exc}") from exc
    for group in ("development", "live"):
        for entry in _network_entries(config.get(group) or [], group):
            if entry.get("id") == network_id:
                return _entry_url(entry, network_id)
    raise NodeError(f"network {network_id!r} is not in {path}; set GRIDSHARE_RPC_URL")


def _network_entries(items: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Development entries are listed flat; live ones are nested under their chain's name."""
    if group == "development":
        return items
    return [n for item in items for n in item.get("networks", [])]


def _entry_url(entry: Mapping[str, Any], network_id: str) -> str:
    host = str(entry.get("host", ""))
    if not host:
        raise NodeError(f"network {network_id!r} has no host")
    port = (entry.get("cmd_settings") or {}).get("port")
    authority = host.split("//", 1)[-1]
    if port is not None and ":" not in authority:
        host = f"{host}:{port}"
    return host


@dataclass(frozen=True)
class Manifest:
    """What scripts/deploy.py recorded in deployments/<network>.json."""

    network: str
    chain_id: int
    deployed_at_block: int
    contracts: Mapping[str, ChecksumAddress]
    abi: Mapping[str, list[dict[str, Any]]]


def load_manifest(deployments_dir: Path, network_id: str) -> Manifest:
    path = deployments_dir / f"{network_id}.json"
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise NodeError(f"no deployment manifest for {network_id!r}: {exc}") from exc
    if "abi" not in data:
        raise NodeError(f"{path} has no ABIs: redeploy with the current scripts/deploy.py")
    return Manifest(
        network=str(data["network"]),
        chain_id=int(data["chain_id"]),
        deployed_at_block=int(data["deployed_at_block"]),
        contracts={name: to_checksum_address(a) for name, a in data["contracts"].items()},
        abi=data["abi"],
    )


# ---------------------------------------------------------------------------------------------
# Revert data -> custom error


@dataclass(frozen=True)
class ErrorDecoder:
    """Custom errors of a set of ABIs, keyed by their 4-byte selector."""

    errors: Mapping[bytes, tuple[str, list[str]]]

    @classmethod
    def from_abis(cls, abis: Sequence[Sequence[Mapping[str, Any]]]) -> ErrorDecoder:
        errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    types = [canonical_type(p) for p in item.get("inputs", [])]
                    signature = f"{item['name']}({','.join(types)})"
                    errors[keccak(text=signature)[:4]] = (str(item["name"]), types)
        return cls(errors)

    def decode(self, data: bytes) -> tuple[str | None, tuple[Any, ...]]:
        """Name and arguments of the error in revert `data` (None if unknown)."""
        known = self.errors.get(bytes(data[:4]))
        if known is None:
            return None, ()
        name, types = known
        try:
            return name, tuple(abi_decode(types, bytes(data[4:])))
        except Exception:  # malformed arguments: the name is still the useful part
            return name, ()


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes a node attached to an error, if any. Nodes differ: geth and anvil
    give a hex string, ganache a dict whose `result` holds it."""
    data: Any = getattr(exc, "data", None)
    if data is None and isinstance(exc, Web3RPCError) and exc.rpc_response:
        data = exc.rpc_response.get("error", {}).get("data")
    if isinstance(data, dict):
        data = data.get("result")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        try:
            return bytes(HexBytes(data))
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------------------------------------
# The node


def _int(value: Any) -> Any:
    return int(value, 16) if isinstance(value, str) else value


def _hexbytes(value: Any) -> Any:
    return None if value is None else HexBytes(value)


def _address(value: Any) -> Any:
    return checksum(value) if isinstance(value, str) and len(value) == 42 else value


_LOG_FIELDS: dict[str, Callable[[Any], Any]] = {
    "blockHash": _hexbytes,
    "blockNumber": _int,
    "transactionIndex": _int,
    "transactionHash": _hexbytes,
    "logIndex": _int,
    "address": _address,
    "topics": lambda topics: [HexBytes(t) for t in topics],
    "data": HexBytes,
}
_RECEIPT_FIELDS: dict[str, Callable[[Any], Any]] = {
    **{k: _LOG_FIELDS[k] for k in ("blockHash", "blockNumber", "transactionIndex")},
    "transactionHash": HexBytes,
    "logs": lambda logs: [_formatted(log, _LOG_FIELDS) for log in logs],
    "logsBloom": HexBytes,
    "contractAddress": _address,
    "from": _address,
    "to": _address,
    **{
        k: _int
        for k in (
            "cumulativeGasUsed",
            "status",
            "gasUsed",
            "effectiveGasPrice",
            "type",
            "blobGasPrice",
            "blobGasUsed",
        )
    },
}


def _formatted(raw: Mapping[str, Any], fields: Mapping[str, Callable[[Any], Any]]) -> Any:
    """A receipt or log of the node's JSON as web3 formats one (its method formatters:
    numbers as ints, hashes and data as HexBytes, addresses checksummed; other fields as
    they are), without web3's generic formatting machinery, which took most of the time of
    reading a busy settlement's receipt or an audit's logs."""
    return {k: fields[k](v) if k in fields else v for k, v in raw.items()}


def _selector(item: Mapping[str, Any]) -> str:
    """A function's selector as call data starts with it ("0x" and 8 hex digits), by
    eth_utils as `chain.events.event_topic` takes an event's topic."""
    return "0x" + bytes(function_abi_to_4byte_selector(dict(item))).hex()  # type: ignore[arg-type]


def _calldata(fn: ContractFunction) -> HexStr:
    """`fn`'s call data: its selector and its arguments encoded by eth_abi. web3's own encoder
    first normalizes every value of the arguments, which on a settlement's thousands of words
    costs several times the encoding; arguments eth_abi does not take as they are (a bytes
    argument given as a hex string, keyword arguments) still go through web3's."""
    if not fn.kwargs:
        try:
            types = [canonical_type(i) for i in fn.abi.get("inputs", [])]
            return HexStr(str(fn.selector) + abi_encode(types, fn.args).hex())
        except EncodingError:
            pass
    return HexStr(fn._encode_transaction_data())


def _web3_shape(param: Mapping[str, Any], value: Any) -> Any:
    """A value eth_abi decoded for `param`, in the shape web3's contract calls give it: arrays
    as lists, structs as tuples, addresses checksummed."""
    kind = str(param["type"])
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return [_web3_shape(element, v) for v in value]
    if kind == "tuple":
        return tuple(_web3_shape(c, v) for c, v in zip(param["components"], value, strict=True))
    if kind == "address":
        return checksum(value)
    return value


def _topic(param: Mapping[str, Any], value: Any) -> HexStr:
    """The topic an indexed argument of `param`'s (static) type holds for `value`."""
    if is_dynamic(param):  # stored as a hash of its packed value: no caller filters on one
        raise NodeError(f"cannot filter on the hashed argument {param.get('name')}")
    return HexStr("0x" + abi_encode([canonical_type(param)], [value]).hex())


@dataclass(frozen=True)
class DecodedLog:
    """One event as emitted: the manifest's name of the emitting contract, the event's name and
    arguments (`chain.events.EventCodec`'s: structs and arrays as tuples, bytes as bytes,
    addresses checksummed), and where it sits in the chain."""

    contract: str
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: str


@dataclass(frozen=True)
class RetryPolicy:
    initial_seconds: float
    max_seconds: float
    limit: int  # failed attempts before giving up; 0: never give up

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th consecutive failure (1, 2, ...)."""
        return min(self.max_seconds, self.initial_seconds * 2.0 ** (attempt - 1))


def _session(url: str) -> requests.Session:
    """The HTTP session of a node's requests. The proxy settings of the environment are read
    once, here (requests reads every environment variable again on each request otherwise);
    its pool holds as many connections as the API's threads may use at once."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = get_environ_proxies(url)
    adapter = HTTPAdapter(pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Node:
    """A connection to one node and one deployment on it."""

    def __init__(
        self,
        url: str,
        manifest: Manifest,
        retry: RetryPolicy,
        *,
        gas_price_wei: int,
        rpc_timeout_seconds: float,
        tx_timeout_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.manifest = manifest
        self.retry = retry
        self.gas_price_wei = gas_price_wei
        self.tx_timeout_seconds = tx_timeout_seconds
        self._sleep = sleep
        # web3's own retries are off: Node.rpc retries, with backoff and a log line.
        provider = HTTPProvider(
            url,
            request_kwargs={"timeout": rpc_timeout_seconds},
            session=_session(url),
            exception_retry_configuration=None,
        )
        self.w3 = Web3(provider)
        # web3's validation middleware asks the node for its chain id twice per call and per
        # transaction built (about half of a view call's time); check_chain checks it once.
        # Its attrdict middleware copies every answer (a receipt's logs too) into attribute
        # dicts, which nothing here reads: answers stay plain dicts.
        self.w3.middleware_onion.remove("validation")
        self.w3.middleware_onion.remove("attrdict")
        self.errors = ErrorDecoder.from_abis(list(manifest.abi.values()))
        self._chain_checked = False
        self._codecs: dict[tuple[str, bytes], tuple[str, str, EventCodec, list[str]]] | None = None

    @classmethod
    def from_settings(cls, network_id: str, settings: Settings) -> Node:
        return cls(
            resolve_rpc_url(network_id, settings),
            load_manifest(settings.deployments_dir, network_id),
            RetryPolicy(
                settings.rpc_retry_initial_seconds,
                settings.rpc_retry_max_seconds,
                settings.rpc_retry_limit,
            ),
            gas_price_wei=settings.gas_price_wei,
            rpc_timeout_seconds=settings.rpc_timeout_seconds,
            tx_timeout_seconds=settings.tx_timeout_seconds,
        )

    # -- retries ---------------------------------------------------------------------------

    def rpc(self, what: str, request: Callable[[], T]) -> T:
        """Run `request`, retrying connection failures (requests' errors are OSErrors) with
        exponential backoff. Logs when the node goes away and when it comes back."""
        attempt = 0
        while True:
            try:
                result = request()
            except OSError as exc:
                attempt += 1
                if self.retry.limit and attempt >= self.retry.limit:
                    raise NodeUnavailable(
                        f"node at {self.url} unreachable after {attempt} attempts ({what}): {exc}"
                    ) from exc
                wait = self.retry.delay(attempt)
                log.warning(
                    "node at %s unreachable (%s, attempt %d): %s; retrying in %.1fs",
                    self.url,
                    what,
                    attempt,
                    type(exc).__name__,
                    wait,
                )
                self._sleep(wait)
                continue
            if attempt:
                log.warning("node at %s is back after %d failed attempts", self.url, attempt)
            return result

    def check_chain(self) -> None:
        """Refuse to work against a node that is not the manifest's chain (once per Node)."""
        if self._chain_checked:
            return
        chain_id = self.rpc("eth_chainId", lambda: self.w3.eth.chain_id)
        if chain_id != self.manifest.chain_id:
            raise NodeError(
                f"node at {self.url} is chain {chain_id}, the deployment is on "
                f"chain {self.manifest.chain_id}"
            )
        self._chain_checked = True

    # -- reads -----------------------------------------------------------------------------

    def contract(self, name: str) -> Contract:
        """A web3 handle of a deployed contract ("Community", "OrderBook", ...)."""
        try:
            address = self.manifest.contracts[name]
        except KeyError as exc:
            raise NodeError(f"{name} is not in the deployment manifest") from exc
        return self.w3.eth.contract(address=address, abi=self.manifest.abi[name])

    def _request(self, method: str, params: Sequence[Any]) -> Any:
        """One JSON-RPC request, past web3's formatters: its result as the node sent it."""
        answer = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in answer:
            raise Web3RPCError(str(answer["error"]), rpc_response=answer)
        return answer.get("result")

    def _raw_receipt(self, tx_hash: str) -> TxReceipt:
        """A receipt, formatted as web3 does; TransactionNotFound until it is mined."""
        raw = self._request("eth_getTransactionReceipt", [tx_hash])
        if raw is None:
            raise TransactionNotFound(f"transaction {tx_hash} is not mined yet")
        return cast(TxReceipt, _formatted(raw, _RECEIPT_FIELDS))

    def _raw_logs(self, params: Mapping[str, Any]) -> list[LogReceipt]:
        """eth_getLogs with `params` (block numbers as ints or tags), formatted as web3 does."""
        wire = {
            **params,
            **{
                k: hex(v) if isinstance(v, int) else v
                for k, v in params.items()
                if k in ("fromBlock", "toBlock")
            },
        }
        return [_formatted(log, _LOG_FIELDS) for log in self._request("eth_getLogs", [wire])]

    def call(self, fn: ContractFunction, block: BlockIdentifier = "latest") -> Any:
        """A view call at `block` (default the latest), with retries; a revert becomes
        TransactionReverted. The answer has web3's shapes (one output as itself, several as a
        list, arrays as lists, structs as tuples, addresses checksummed), decoded here from
        one `eth_call` request: web3's own path costs about as much again in Python as the
        request itself, and the matcher reads the chain dozens of times a slot."""
        params = [
            {"to": fn.address, "data": _calldata(fn)},
            block if isinstance(block, str) else hex(int(block)),
        ]
        try:
            result = self.rpc(fn.fn_name, lambda: self._request("eth_call", params))
        except Web3RPCError as exc:
            answer = exc.rpc_response or {}
            try:  # web3's own reading of a revert answer (its message, code and data)
                if isinstance(answer.get("error"), dict):
                    raise_contract_logic_error_on_revert(answer)
            except ContractLogicError as revert:
                raise self._reverted(revert, None) from revert
            raise
        outputs = fn.abi.get("outputs", [])
        values = abi_decode([canonical_type(o) for o in outputs], HexBytes(result))
        decoded = [_web3_shape(o, v) for o, v in zip(outputs, values, strict=True)]
        return decoded[0] if len(decoded) == 1 else decoded

    def manifest_logs(
        self, from_block: int, to_block: int, *, batch_blocks: int = 5_000
    ) -> list[LogReceipt]:
        """Every log the manifest's contracts emitted in [from_block, to_block], in chain order,
        fetched in ranges of `batch_blocks` blocks (nodes cap the size of one answer)."""
        return [
            log
            for batch in self.manifest_log_batches(from_block, to_block, batch_blocks)
            for log in batch
        ]

    def manifest_log_batches(
        self, from_block: int, to_block: int, batch_blocks: int = 5_000
    ) -> Iterator[list[LogReceipt]]:
        """`manifest_logs` one range of `batch_blocks` blocks at a time, each in chain order: a
        reader that keeps only what it makes of them never holds every raw log at once."""
        addresses = list(self.manifest.contracts.values())
        start = from_block
        while start <= to_block:
            end = min(to_block, start + batch_blocks - 1)
            logs = self.get_logs(addresses, start, end)
            yield sorted(logs, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
            start = end + 1

    def decode_logs(self, logs: Sequence[Any]) -> list[DecodedLog]:
        """Decode logs against the manifest's ABIs (by emitting contract and event topic), with
        the indexer's codec (`chain.events.EventCodec`: eth_abi directly; web3's own decoding
        took most of an audit's time), addresses checksummed as web3 gives them.
        A log no ABI knows raises NodeError: the manifest does not describe this chain."""
        events = self._event_codecs()
        decoded = []
        for log in logs:
            address = checksum(log["address"])
            known = events.get((address, bytes(log["topics"][0]))) if log["topics"] else None
            if known is None:
                raise NodeError(
                    f"log {bytes(log['transactionHash']).hex()}:{log['logIndex']} of {address} "
                    "matches no event of the manifest's ABIs"
                )
            contract, event, codec, addresses = known
            try:
                args = codec.args(log)
            except (EventMismatch, DecodingError) as exc:
                raise NodeError(f"{contract}.{event}: {exc}") from exc
            for name in addresses:
                args[name] = checksum(args[name])
            decoded.append(
                DecodedLog(
                    contract=contract,
                    name=event,
                    args=args,
                    block=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                )
            )
        return decoded

    def _event_codecs(self) -> dict[tuple[str, bytes], tuple[str, str, EventCodec, list[str]]]:
        """(address, topic) -> the contract's name, the event's name, its codec and the names
        of its address arguments; built once per node, and published whole: the API's threads
        share the node, and one must never see the table half built."""
        if self._codecs is None:
            codecs: dict[tuple[str, bytes], tuple[str, str, EventCodec, list[str]]] = {}
            for name, address in self.manifest.contracts.items():
                for item in self.manifest.abi[name]:
                    if item.get("type") != "event" or item.get("anonymous"):
                        continue
                    inputs = list(item.get("inputs", []))
                    topic = event_topic(item)
                    names = [str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)]
                    addresses = [
                        n for n, p in zip(names, inputs, strict=True) if p["type"] == "address"
                    ]
                    codec = EventCodec.of(inputs, names, str(item["name"]))
                    codecs[(checksum(address), topic)] = (name, str(item["name"]), codec, addresses)
            self._codecs = codecs
        return self._codecs

    def emitted(self, receipt: TxReceipt, contract: str, event: str) -> list[dict[str, Any]]:
        """The arguments of each `contract`'s `event` in `receipt`, in log order (the receipt's
        other logs are skipped)."""
        handle = self.contract(contract).events[event]()
        return [unpacked(event, e["args"]) for e in handle.process_receipt(receipt, errors=DISCARD)]

    def head(self) -> tuple[int, int]:
        """The latest block's number and timestamp, read together (one request)."""
        header = self._header("latest")
        return int(header["number"], 16), int(header["timestamp"], 16)

    def block_timestamp(self, block: int | str = "latest") -> int:
        """Block `block`'s time (a number, or a tag such as "latest")."""
        return int(self._header(block)["timestamp"], 16)

    def _header(self, block: int | str) -> dict[str, Any]:
        """A block's header as the node sends it (hex numbers): the matcher reads the head's
        number, time and gas limit many times a slot, and web3 formats every field of it."""
        tag = hex(block) if isinstance(block, int) else str(block)
        header = self.rpc(
            "eth_getBlockByNumber", lambda: self._request("eth_getBlockByNumber", [tag, False])
        )
        if header is None:
            raise BlockNotFound(f"block {block} is not on the chain")
        return cast(dict[str, Any], header)

    def events(
        self,
        contract: str,
        event: str,
        *,
        from_block: int,
        to_block: BlockIdentifier = "latest",
        argument_filters: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Decoded `event` logs of a deployed contract in a block range, in chain order: each
        with its `args` (as `decode_logs` gives them), `blockNumber`, `transactionHash` (0x-hex)
        and `logIndex`. `argument_filters` (name -> value) select by equality: an indexed
        argument in the node's topic filter, any other on the decoded logs."""
        item = next(
            (
                i
                for i in self.manifest.abi[contract]
                if i.get("type") == "event" and i.get("name") == event
            ),
            None,
        )
        if item is None:
            raise NodeError(f"{contract} has no event {event}")
        inputs = list(item.get("inputs", []))
        filters = dict(argument_filters or {})
        unknown = set(filters) - {str(p.get("name")) for p in inputs}
        if unknown:
            raise NodeError(f"{contract}.{event} has no argument {sorted(unknown)}")
        topics: list[HexStr | None] = [HexStr("0x" + event_topic(item).hex())]
        for param in (p for p in inputs if p.get("indexed")):
            name = str(param.get("name"))
            topics.append(None if name not in filters else _topic(param, filters.pop(name)))
        while topics[-1] is None:
            topics.pop()
        params: FilterParams = {
            "address": ChecksumAddress(
                HexAddress(HexStr(checksum(self.manifest.contracts[contract])))
            ),
            "topics": cast(Any, topics),
            "fromBlock": from_block,
            "toBlock": to_block,
        }
        logs = self.rpc(f"eth_getLogs {event}", lambda: self._raw_logs(params))
        return [
            {
                "args": log.args,
                "blockNumber": log.block,
                "transactionHash": log.tx_hash,
                "logIndex": log.log_index,
            }
            for log in self.decode_logs(logs)
            if all(log.args[name] == value for name, value in filters.items())
        ]

    def block_number(self) -> int:
        """Number of the latest block."""
        return int(self.rpc("eth_blockNumber", lambda: self.w3.eth.block_number))

    def block(self, number: int) -> BlockData | None:
        """Header of block `number` (transaction hashes only), or None if the chain has none."""
        try:
            return self.rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block(number))
        except BlockNotFound:
            return None

    def blocks(self, numbers: Sequence[int]) -> list[BlockData]:
        """Headers of existing blocks `numbers`, in that order, in one batched request
        (BlockMissing if any is not on the chain)."""

        def request() -> list[BlockData]:
            with self.w3.batch_requests() as batch:
                for n in numbers:
                    batch.add(self.w3.eth.get_block(n))
                return cast(list[BlockData], batch.execute())

        try:
            return self.rpc("eth_getBlockByNumber (batch)", request) if numbers else []
        except BlockNotFound as exc:
            raise BlockMissing(f"a block of {list(numbers)} is not on the chain: {exc}") from exc

    def get_logs(
        self, addresses: Sequence[ChecksumAddress], from_block: int, to_block: int
    ) -> list[LogReceipt]:
        """Every log emitted by `addresses` in blocks `from_block..to_block` (inclusive), in
        chain order."""
        params: FilterParams = {
            "address": list(addresses),
            "fromBlock": from_block,
            "toBlock": to_block,
        }
        return self.rpc("eth_getLogs", lambda: self._raw_logs(params))

    # -- transactions ----------------------------------------------------------------------

    def transact(
        self,
        fn: ContractFunction,
        sender: Sender,
        *,
        gas: int | None = None,
        nonce: int | None = None,
        on_signed: Callable[[str], None] | None = None,
    ) -> TxReceipt:
        """Sign, send and wait for the receipt of `fn` from `sender`.

        Without `gas` the gas is estimated (plus a margin), so a revert surfaces before anything
        is sent. With `gas` nothing is estimated: for transactions whose estimate the node makes
        expensive (ganache re-executes a transaction many times to estimate it; unused gas is
        not charged). Either way a revert raises TransactionReverted with the error's name.
        `nonce` saves a request when the caller is the account's only sender and counts itself.
        `on_signed` is told the transaction's hash before it is broadcast (a durable outbox
        records it there, to find the transaction again after a crash).
        """
        self.check_chain()
        if nonce is None:
            nonce = self.rpc(
                "eth_getTransactionCount",
                lambda: self.w3.eth.get_transaction_count(sender.address, "pending"),
            )
        params: TxParams = {
            "from": sender.address,
            "gasPrice": Wei(self.gas_price_wei),
            "chainId": self.manifest.chain_id,
            "nonce": Nonce(nonce),
        }
        if gas is not None:
            params["gas"] = gas
        tx = self.rpc(f"build {fn.fn_name}", lambda: self._build(fn, params))
        raw = sender.sign(self, tx)
        tx_hash = HexStr("0x" + keccak(raw).hex())
        if on_signed is not None:
            on_signed(tx_hash)
        self._send(raw, tx_hash)
        receipt = self._wait(tx_hash)
        if receipt["status"] != 1:
            raise self._replay_revert(tx, receipt)
        return receipt

    def transact_many(
        self,
        calls: Sequence[tuple[ContractFunction, Sender, int, int]],
        *,
        ordered: bool = True,
        chunk: int = 200,
    ) -> list[TxReceipt]:
        """Send several transactions, each `(fn, sender, gas, nonce)`, before waiting for any
        receipt, then wait for them all. Nothing is estimated or looked up. Receipts are
        fetched `chunk` at a time in batched JSON-RPC requests (one HTTP round trip each).
        `ordered`: sent one request each, in order, so that a node mining as they arrive
        executes them in that order (order ids, ties); `ordered=False` sends them in batched
        requests too, whose order within a batch the node may change (ganache does).
        The first reverted one raises TransactionReverted."""
        self.check_chain()
        sent: list[tuple[TxParams, HexStr, bytes]] = []
        for fn, sender, gas, nonce in calls:
            params: TxParams = {
                "from": sender.address,
                "gasPrice": Wei(self.gas_price_wei),
                "chainId": self.manifest.chain_id,
                "nonce": Nonce(nonce),
                "gas": gas,
            }
            tx = self.rpc(f"build {fn.fn_name}", partial(self._build, fn, params))
            raw = sender.sign(self, tx)
            sent.append((tx, HexStr("0x" + keccak(raw).hex()), raw))
        receipts = self._broadcast([(raw, h) for _, h, raw in sent], ordered, chunk)
        for (tx, _, _), receipt in zip(sent, receipts, strict=True):
            if receipt["status"] != 1:
                raise self._replay_revert(tx, receipt)
        return receipts

    def _broadcast(
        self, signed: Sequence[tuple[bytes, HexStr]], ordered: bool, chunk: int
    ) -> list[TxReceipt]:
        """Send every signed transaction (`ordered`: one request each, in order; otherwise
        `chunk` per batched request), then fetch their receipts `chunk` at a time."""
        for start in range(0, len(signed), chunk):
            part = signed[start : start + chunk]
            if ordered:
                for raw, tx_hash in part:
                    self._send(raw, tx_hash)
            else:
                self._send_batch(part)
        receipts: list[TxReceipt] = []
        for start in range(0, len(signed), chunk):
            receipts += self._receipts([h for _, h in signed[start : start + chunk]])
        return receipts

    def _send_batch(self, signed: Sequence[tuple[bytes, HexStr]]) -> None:
        """Signed transactions in one batched request; if the node refuses any of them, each
        is sent again on its own (`_send`: a node that already has it is fine)."""
        method = RPCEndpoint("eth_sendRawTransaction")
        requests = [(method, ["0x" + raw.hex()]) for raw, _ in signed]
        provider = cast(HTTPProvider, self.w3.provider)  # web3 refuses sends in its batches
        answers = self.rpc(
            "eth_sendRawTransaction (batch)", partial(provider.make_batch_request, requests)
        )
        if not isinstance(answers, list) or any("error" in a for a in answers):
            for raw, tx_hash in signed:
                self._send(raw, tx_hash)

    def _receipts(self, hashes: Sequence[HexStr]) -> list[TxReceipt]:
        """Receipts of sent transactions in batched requests: once the last one is mined the
        batch is asked (again after a short pause while any is still missing, a few times);
        then any missing one is waited for on its own."""

        if not hashes:
            return []
        self._wait(hashes[-1])
        for attempt in range(5):
            try:
                raw = self._batch("eth_getTransactionReceipt", [[h] for h in hashes])
            except Web3RPCError:
                raw = []
            if len(raw) == len(hashes) and all(r is not None for r in raw):
                return [cast(TxReceipt, _formatted(r, _RECEIPT_FIELDS)) for r in raw]
            self._sleep(0.05 * 2**attempt)
        return [self._wait(tx_hash) for tx_hash in hashes]

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of a mined transaction; None if the node does not know it as mined."""
        try:
            return self.rpc("eth_getTransactionReceipt", lambda: self._raw_receipt(tx_hash))
        except TransactionNotFound:
            return None

    def mined_calls(self, from_block: int, chunk: int = 500) -> list[tuple[str, str, int, str]]:
        """(contract, function, gas used, transaction hash) of every transaction into the
        deployment's contracts mined from `from_block` to the head, in chain order: what
        benchmarks add up (and, by the hash, trace). Blocks and
        receipts are read `chunk` at a time in batched requests (a year's run mines tens of
        thousands of blocks)."""
        functions = {
            (address.lower(), _selector(item)): (name, str(item["name"]))
            for name, address in self.manifest.contracts.items()
            for item in self.manifest.abi[name]
            if item.get("type") == "function"
        }
        out: list[tuple[str, str, int, str]] = []
        head = self.block_number()
        for start in range(from_block, head + 1, chunk):
            numbers = range(start, min(head, start + chunk - 1) + 1)
            blocks = self._batch_complete("eth_getBlockByNumber", [[hex(n), True] for n in numbers])
            calls = [
                (functions[key], tx["hash"])
                for block in blocks
                for tx in block["transactions"]
                if (key := (str(tx.get("to") or "").lower(), str(tx["input"])[:10])) in functions
            ]
            receipts = self._batch_complete("eth_getTransactionReceipt", [[h] for _, h in calls])
            out += [
                (contract, fn, int(receipt["gasUsed"], 16), str(tx_hash))
                for ((contract, fn), tx_hash), receipt in zip(calls, receipts, strict=True)
            ]
        return out

    def _batch_complete(self, method: str, params: Sequence[Any]) -> list[Any]:
        """`_batch`, with every answer there (NodeError if any is refused or missing)."""
        try:
            results = self._batch(method, params)
        except Web3RPCError as exc:
            raise NodeError(str(exc)) from exc
        if any(r is None for r in results):
            raise NodeError(f"{method} (batch) incomplete: {str(results)[:300]}")
        return results

    def _batch(self, method: str, params: Sequence[Any]) -> list[Any]:
        """One batched request of `method` with each of `params`, with retries: the results as
        the node sent them, in the order asked (web3 sorts a batch's answers by their ids;
        None where the node has nothing, e.g. a receipt not mined yet). Web3RPCError if the
        node refuses any of them."""
        if not params:
            return []
        provider = cast(HTTPProvider, self.w3.provider)
        endpoint = RPCEndpoint(method)
        answers = self.rpc(
            f"{method} (batch)",
            partial(provider.make_batch_request, [(endpoint, p) for p in params]),
        )
        if not isinstance(answers, list) or any("error" in a for a in answers):
            raise Web3RPCError(f"{method} (batch) refused: {str(answers)[:300]}")
        return [a.get("result") for a in answers]

    def block_gas_limit(self) -> int:
        """Gas limit of the latest block: the most any one transaction can use."""
        return int(self._header("latest")["gasLimit"], 16)

    def _build(self, fn: ContractFunction, params: TxParams) -> TxParams:
        """The transaction of `fn` with `params`; its gas estimated if none is given."""
        tx: TxParams = {**params, "to": fn.address, "data": _calldata(fn), "value": Wei(0)}
        if "gas" not in params:
            try:
                estimate = self.w3.eth.estimate_gas(tx)
            except ContractLogicError as exc:
                raise self._reverted(exc, None) from exc
            # A margin: state may change a little between estimate and mining.
            tx["gas"] = int(estimate) * 5 // 4
        return tx

    def _send(self, raw: bytes, tx_hash: HexStr) -> None:
        """Send signed bytes; after a lost connection the same bytes are sent again, and a node
        that already has the transaction is fine. Ganache also answers with an error when the
        transaction it just mined reverted: the receipt then tells."""
        try:
            self.rpc("eth_sendRawTransaction", lambda: self.w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            if self._known(tx_hash):
                return
            raise NodeError(f"node refused transaction {tx_hash}: {exc}") from exc

    def _known(self, tx_hash: HexStr) -> bool:
        try:
            self.rpc("eth_getTransactionByHash", lambda: self.w3.eth.get_transaction(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def _wait(self, tx_hash: HexStr) -> TxReceipt:
        deadline = time.monotonic() + self.tx_timeout_seconds
        pause = 0.005  # a development chain mines at once; a public one is polled ever slower
        while True:
            try:
                return self.rpc("eth_getTransactionReceipt", lambda: self._raw_receipt(tx_hash))
            except TransactionNotFound:
                if time.monotonic() > deadline:
                    raise NodeError(
                        f"transaction {tx_hash} not mined within {self.tx_timeout_seconds}s"
                    ) from None
                self._sleep(pause)
                pause = min(pause * 2, 2.0)

    def _replay_revert(self, tx: TxParams, receipt: TxReceipt) -> TransactionReverted:
        """Why a mined transaction failed: replay it as a call on the state after its block
        (receipts carry no revert data). If the cause has gone, the error is unknown."""
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        if "gas" in tx and int(receipt["gasUsed"]) >= int(tx["gas"]):
            # It used all its gas: out of gas (the replay would only say so in a node's words).
            return TransactionReverted("OutOfGas", (int(tx["gas"]),), tx_hash)
        call: TxParams = {k: v for k, v in tx.items() if k in ("from", "to", "data", "gas")}  # type: ignore[assignment]
        try:
            self.rpc("eth_call", lambda: self.w3.eth.call(call, receipt["blockNumber"]))
        except ContractLogicError as exc:
            return self._reverted(exc, tx_hash)
        except Web3RPCError:  # the node refuses to replay it: the cause is unknown
            pass
        return TransactionReverted(None, (), tx_hash)

    def _reverted(self, exc: ContractLogicError, tx_hash: str | None) -> TransactionReverted:
        data = revert_data(exc)
        name, args = self.errors.decode(data) if data else (None, ())
        return TransactionReverted(name, args, tx_hash)

    def advance_time(self, seconds: int) -> int:
        """Development chains only (ganache, anvil): move block time forward by `seconds` and
        mine a block there (`evm_increaseTime`, `evm_mine`). Returns the new block's timestamp."""
        if seconds > 0:
            self.make_request("evm_increaseTime", [seconds])
        self.make_request("evm_mine", [])
        return self.block_timestamp()

    def send_value(self, sender: Sender, to: str, value_wei: int) -> TxReceipt:
        """Send ether (gas money for an account that signs its own transactions)."""
        return self.send_values(sender, [(to, value_wei)])[0]

    def send_values(self, sender: Sender, payments: Sequence[tuple[str, int]]) -> list[TxReceipt]:
        """Send ether to several accounts (`(to, value_wei)` each) before waiting for any
        receipt, as `transact_many` does for contract calls; one nonce lookup for them all."""
        self.check_chain()
        nonce = self.rpc(
            "eth_getTransactionCount",
            lambda: self.w3.eth.get_transaction_count(sender.address, "pending"),
        )
        signed: list[tuple[bytes, HexStr]] = []
        for i, (to, value_wei) in enumerate(payments):
            tx: TxParams = {
                "from": sender.address,
                "to": to_checksum_address(to),
                "value": Wei(value_wei),
                "gas": PLAIN_TRANSFER_GAS,
                "gasPrice": Wei(self.gas_price_wei),
                "chainId": self.manifest.chain_id,
                "nonce": Nonce(nonce + i),
            }
            raw = sender.sign(self, tx)
            signed.append((raw, HexStr("0x" + keccak(raw).hex())))
        return self._broadcast(signed, ordered=False, chunk=200)

    def make_request(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC request (node-specific methods: eth_signTransaction, evm_mine, ...)."""
        response = self.rpc(
            method, lambda: self.w3.provider.make_request(RPCEndpoint(method), params)
        )
        if "error" in response:
            raise NodeError(f"{method} failed: {response['error']}")
        return response["result"]


# ---------------------------------------------------------------------------------------------
# Reads seen differently: through a cache, or at one past block


def _call_key(fn: ContractFunction) -> tuple[Any, ...]:
    """A view call's identity, hashable: its contract's address, its function's name and its
    arguments (lists as tuples). Equal keys ask the node the same question."""

    def hashable(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(hashable(v) for v in value)
        return value

    return ("call", str(fn.address), str(fn.fn_name), hashable(fn.args))


class _CachedCalls:
    """A node whose view calls at the latest block go through a cache (`cached_calls`)."""

    def __init__(
        self,
        node: Node,
        cache: Callable[[tuple[Any, ...], Callable[[], Any]], Any],
        head: Callable[[], int],
    ) -> None:
        self._node = node
        self._cache = cache
        self._head = head

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def call(self, fn: ContractFunction, block: BlockIdentifier = "latest") -> Any:
        if block != "latest":
            return self._node.call(fn, block)
        return self._cache(_call_key(fn), lambda: self._node.call(fn, self._head()))


def cached_calls(
    node: Node,
    cache: Callable[[tuple[Any, ...], Callable[[], Any]], Any],
    head: Callable[[], int],
) -> Node:
    """`node` with every view call at the latest block (so every gateway read, chain/gateway.py)
    answered by `cache(key, read)`, which may return a value it keeps for `key` instead of
    calling `read()`; the key names the call's contract address, function and arguments (the
    API's per-head-block cache, api/view.py). `read()` calls at block `head()`, the block the
    cache keeps answers for, not at the node's latest: answers cached a moment apart then
    describe one state, never a mix of two blocks. Everything else is `node`'s own."""
    return cast(Node, _CachedCalls(node, cache, head))


class _AtBlock:
    """A node whose view calls without a block are made at one block (`at_block`)."""

    def __init__(self, node: Node, block: int) -> None:
        self._node = node
        self._block = block

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def call(self, fn: ContractFunction, block: BlockIdentifier | None = None) -> Any:
        return self._node.call(fn, self._block if block is None else block)


def at_block(node: Node, block: int) -> Node:
    """`node` with every view call that names no block (so every gateway read, chain/gateway.py)
    made at `block` instead of the latest: one past state read through the gateways (the
    audit's). Everything else is `node`'s own (a wrapper such as a timing one stays in place)."""
    return cast(Node, _AtBlock(node, block))


# ---------------------------------------------------------------------------------------------
# Who sends


class Sender:
    """An account that signs transactions: a local private key, or an account the node holds
    unlocked (development chains), which signs through `eth_signTransaction`."""

    def __init__(self, address: str, private_key: str | None = None) -> None:
        self.address = to_checksum_address(address)
        self._key = private_key

    @classmethod
    def from_key(cls, private_key: str) -> Sender:
        return cls(Account.from_key(private_key).address, private_key)

    def sign(self, node: Node, tx: TxParams) -> bytes:
        if self._key is not None:
            signed = Account.sign_transaction(cast(dict[str, Any], tx), self._key)
            return bytes(signed.raw_transaction)
        as_json = {k: hex(v) if isinstance(v, int) else v for k, v in tx.items()}
        return bytes(HexBytes(node.make_request("eth_signTransaction", [as_json])))


def _sender(address: str | None, key: SecretStr | None, role: str) -> Sender:
    if key is not None:
        return Sender.from_key(key.get_secret_value())
    if address:
        return Sender(address)
    env = "GRIDSHARE_" + role.upper()
    raise NodeError(f"set {env}_KEY (a private key) or {env} (an unlocked node account)")


def matcher_sender(settings: Settings) -> Sender:
    """The matcher's account from settings: the private key if set, else the unlocked address."""
    return _sender(settings.matcher, settings.matcher_key, "matcher")


def oracle_sender(settings: Settings) -> Sender:
    """The oracle's relaying account (ORACLE role), as for the matcher."""
    return _sender(settings.oracle, settings.oracle_key, "oracle")
