"""The dev sign-in helper: on a local development chain only, the API signs for the accounts of a
demo community (`make dashboard`), so that the dashboard can sign in as any household or as the
DSO without a browser wallet. Nothing here runs unless settings.api_dev_accounts names the
accounts file, and the API refuses to start with it on any chain whose id is not a local
development chain's (1337: ganache, 31337: anvil and hardhat), so a real community's API never
serves it.

The file is JSON: `{"accounts": [{"name": ..., "role": ..., "address": ..., "key": ...}]}`. Keys
never leave the API; the page asks it to sign a SIWE message or EIP-712 typed data instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import APIRouter, Request
from pydantic import Field

from api.errors import ApiError
from api.schemas import Address, Strict
from chain.signing import sign_typed_data

DEV_CHAIN_IDS = frozenset({1337, 31337})


class DevHelperRefused(Exception):
    """The dev sign-in helper was asked for where it must not run, or its file is unusable."""


@dataclass(frozen=True)
class DevAccount:
    name: str
    role: str
    address: str
    key: str


def refuse_unless_dev_chain(chain_id: int) -> None:
    """Raise DevHelperRefused unless `chain_id` is a local development chain's."""
    if chain_id not in DEV_CHAIN_IDS:
        raise DevHelperRefused(
            f"api_dev_accounts is set but chain {chain_id} is not a local development chain "
            f"(ids {', '.join(map(str, sorted(DEV_CHAIN_IDS)))}): refusing to serve the dev "
            "sign-in helper; unset GRIDSHARE_API_DEV_ACCOUNTS"
        )


def load_accounts(path: Path) -> dict[str, DevAccount]:
    """The file's accounts by checksummed address; each key must be its address's key."""
    try:
        rows = json.loads(path.read_text())["accounts"]
        accounts = [DevAccount(r["name"], r["role"], r["address"], r["key"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevHelperRefused(f"cannot read the dev accounts file {path}: {exc}") from exc
    out = {}
    for a in accounts:
        address = Account.from_key(a.key).address
        if address.lower() != a.address.lower():
            raise DevHelperRefused(f"{path}: the key of {a.name} is not {a.address}'s")
        out[address] = DevAccount(a.name, a.role, address, a.key)
    return out


class DevAccountPublic(Strict):
    name: str
    role: str
    address: str


class DevSignMessage(Strict):
    address: Address
    message: str = Field(max_length=4000)


class DevSignTypedData(Strict):
    address: Address
    typed_data: dict[str, Any]


class DevSignaturePublic(Strict):
    signature: str


router = APIRouter(prefix="/dev", tags=["dev (local development chains only)"])


def _accounts(request: Request) -> dict[str, DevAccount]:
    accounts: dict[str, DevAccount] = request.app.state.dev_accounts
    return accounts


def _account(request: Request, address: str) -> DevAccount:
    account = _accounts(request).get(address)
    if account is None:
        raise ApiError(404, "unknown_dev_account", f"{address} is not one of the demo's accounts")
    return account


@router.get("/accounts")
def accounts(request: Request) -> list[DevAccountPublic]:
    """The demo community's accounts this API signs for (households, then the DSO)."""
    return [
        DevAccountPublic(name=a.name, role=a.role, address=a.address)
        for a in _accounts(request).values()
    ]


@router.post("/sign-message")
def sign_message(body: DevSignMessage, request: Request) -> DevSignaturePublic:
    """Sign a text (the SIWE sign-in message) as `address` (EIP-191 personal_sign)."""
    key = _account(request, body.address).key
    signed = Account.sign_message(encode_defunct(text=body.message), private_key=key)
    return DevSignaturePublic(signature="0x" + bytes(signed.signature).hex())


@router.post("/sign-typed-data")
def sign_typed(body: DevSignTypedData, request: Request) -> DevSignaturePublic:
    """Sign EIP-712 typed data (an order intent, a cancellation) as `address`."""
    key = _account(request, body.address).key
    try:
        signature = sign_typed_data(body.typed_data, key)
    except Exception as exc:  # eth_account raises several types for malformed typed data
        raise ApiError(422, "invalid_typed_data", f"cannot sign: {exc}") from exc
    return DevSignaturePublic(signature="0x" + signature.hex())
