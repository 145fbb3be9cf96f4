"""A small Python client of the API: a local key that signs in with Ethereum and signs EIP-712
intents and direct orders as a wallet would, over HTTP. Used by the tests and the benchmark."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage  # type: ignore[import-untyped]

from chain.signing import cancel_typed_data, sign_typed_data

EUR = 10**9


def _ok(r: httpx.Response) -> None:
    if r.status_code >= 300:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")


def siwe_message(address: str, domain: str, chain_id: int, nonce: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return str(
        SiweMessage(
            domain=domain,
            address=address,
            statement="Sign in to gridshare",
            uri=f"http://{domain}",
            version="1",
            chain_id=chain_id,
            nonce=nonce,
            issued_at=now,
        ).prepare_message()
    )


def sign_text(account: LocalAccount, text: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


@dataclass
class Wallet:
    """A key and its session with the API."""

    client: httpx.Client
    account: LocalAccount = field(default_factory=lambda: Account.create())
    token: str | None = None

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def sign_in(self) -> dict[str, Any]:
        n = self.client.get("/auth/nonce").json()
        message = siwe_message(self.address, n["domain"], n["chain_id"], n["nonce"])
        r = self.client.post(
            "/auth/login", json={"message": message, "signature": sign_text(self.account, message)}
        )
        _ok(r)
        body: dict[str, Any] = r.json()
        self.token = body["token"]
        return body

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers)

    def put(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.put(path, json=body, headers=self.headers)

    def delete(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.request("DELETE", path, json=body, headers=self.headers)

    def intent(
        self, slot: int, side: str, energy_wh: int, price: int, *, deadline: int | None = None
    ) -> dict[str, Any]:
        """Ask the API for the EIP-712 Intent to sign, sign it, and return the body for
        POST /orders."""
        body: dict[str, Any] = {
            "slot": slot,
            "side": side,
            "energy_wh": energy_wh,
            "limit_price": price,
        }
        if deadline is not None:
            body["deadline"] = deadline
        r = self.post("/orders/typed-data", body)
        _ok(r)
        typed = r.json()["typed_data"]
        return self.intent_body(typed)

    def intent_body(self, typed: dict[str, Any]) -> dict[str, Any]:
        """Sign the typed data of an Intent; the body for POST /orders."""
        signature = sign_typed_data(typed, self.account.key)
        m = typed["message"]
        return {
            "owner": m["owner"],
            "slot": m["slot"],
            "side": "sell" if m["side"] else "buy",
            "energy_wh": m["energyWh"],
            "limit_price": m["limitPrice"],
            "epoch": m["epoch"],
            "deadline": m["deadline"],
            "signature": "0x" + signature.hex(),
        }

    def direct_order(
        self, slot: int, side: str, energy_wh: int, price: int, *, to_slot: int | None = None
    ) -> dict[str, Any]:
        """A direct order (the fallback): ask the API what to sign, sign it, and return the body
        for POST /orders/direct."""
        r = self.post(
            "/orders/direct/typed-data",
            {
                "from_slot": slot,
                "to_slot": to_slot,
                "side": side,
                "energy_wh": energy_wh,
                "limit_price": price,
            },
        )
        _ok(r)
        typed = r.json()["typed_data"]
        signature = sign_typed_data(typed, self.account.key)
        m = typed["message"]
        return {
            "owner": m["owner"],
            "from_slot": m["fromSlot"],
            "to_slot": m["toSlot"],
            "side": side,
            "energy_wh": m["energyWh"],
            "limit_price": m["limitPrice"],
            "nonce": m["nonce"],
            "deadline": m["deadline"],
            "signature": "0x" + signature.hex(),
        }

    def cancel_body(self, order_id: int, chain_id: int, book: str, deadline: int) -> dict[str, Any]:
        nonce = secrets.randbits(64)
        typed = cancel_typed_data(self.address, order_id, nonce, deadline, chain_id, book)
        signature = sign_typed_data(typed, self.account.key)
        return {"nonce": nonce, "deadline": deadline, "signature": "0x" + signature.hex()}
