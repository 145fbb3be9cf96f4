"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the API
served over real HTTP on a real local chain (the shared harness in tests/apiserver.py, its own chain
for this directory). Wallets are local keys behind an EIP-1193 provider injected into the page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from api.client import Wallet
from chain.node import Node
from chain.signing import sign_typed_data
from gridshare.settings import Settings
from tests.api.chainops import trade_metered_slot
from tests.apiserver import base_url, chain, chain_node, client, dso, node, port, settings

__all__ = ["base_url", "chain", "chain_node", "client", "dso", "node", "port", "settings"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"

# A minimal EIP-1193 provider: the page asks it as it would ask MetaMask; the key stays in the
# test process (the exposed binding below), like a wallet's key stays in the wallet.
PROVIDER_JS = """
window.ethereum = {
  isGridshareKeyWallet: true,
  async request({ method, params }) {
    const reply = JSON.parse(await window.__testWallet(method, JSON.stringify(params || [])));
    if (reply.error) { const e = new Error(reply.error); e.code = 4001; throw e; }
    return reply.result;
  },
  on() {},
  removeListener() {},
};
"""


class KeyWallet:
    """What the injected provider does with a local key; records the methods the page asked."""

    def __init__(self, account: LocalAccount, chain_id: int) -> None:
        self.account = account
        self.chain_id = chain_id
        self.calls: list[str] = []

    def __call__(self, method: str, params_json: str) -> str:
        self.calls.append(method)
        try:
            return json.dumps({"result": self.handle(method, json.loads(params_json))})
        except Exception as exc:
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"})

    def handle(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address.lower()]  # as MetaMask does: the page checksums it
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "personal_sign":
            data, address = params
            assert address.lower() == self.account.address.lower(), "signing for another account"
            signed = self.account.sign_message(encode_defunct(primitive=bytes.fromhex(data[2:])))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_signTypedData_v4":
            address, typed = params
            assert address.lower() == self.account.address.lower(), "signing for another account"
            return "0x" + sign_typed_data(json.loads(typed), self.account.key).hex()
        raise ValueError(f"unsupported method {method}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def traded(client: httpx.Client, node: Node, settings: Settings, dso: Wallet) -> dict[str, Any]:
    """One slot traded by two members, metered, settled against the meters and indexed."""
    return trade_metered_slot(client, node, settings, dso)


OpenPage = Callable[..., tuple[Any, KeyWallet]]


@pytest.fixture
def open_page(browser: Any, base_url: str, node: Node) -> Iterator[OpenPage]:
    """Open the dashboard at `view` in a fresh browser context whose wallet holds `account`."""
    contexts: list[Any] = []

    def opener(account: LocalAccount, view: str, **viewport: int) -> tuple[Any, KeyWallet]:
        wallet = KeyWallet(account, node.manifest.chain_id)
        size = viewport or {"width": 1280, "height": 900}
        context = browser.new_context(viewport=size, base_url=base_url)
        contexts.append(context)
        context.expose_function("__testWallet", wallet)
        context.add_init_script(PROVIDER_JS)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"/dashboard/{view}")
        page.wait_for_selector("body[data-ready='true']")
        assert not errors, errors
        return page, wallet

    yield opener
    for c in contexts:
        c.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
