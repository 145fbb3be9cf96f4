"""Issue 18's API hardening, over real HTTP against the shared ganache: strict request integers,
405 with every allowed method, no route shadowing, the history range cap on every slot list
(readings, trades, orders, flexibility earnings), top-up lists paged by a limit and a cursor,
top-up rules, 503 within 2 s while the node is down, SIGTERM within 5 s, and the start-up
refusal."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
from web3.types import Wei

from api.client import EUR, Wallet
from api.dev import DevHelperRefused, refuse_unless_dev_chain
from api.history import MAX_SLOTS
from chain.devchain import DevChain, free_port
from chain.node import Node, Sender
from gridshare import wiring
from gridshare.settings import Settings
from tests.api.test_api import open_slot
from tests.apiserver import DSO_ACCOUNT, RELAYER_ACCOUNT, new_member

GRIDSHARE = [sys.executable, "-c", "from gridshare.cli import app; app()"]
Popen = subprocess.Popen[str]


# -- strict integers --------------------------------------------------------------------------


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_request"
    assert field in body["message"] and "integer" in body["message"], body["message"]


def test_a_bool_is_not_an_integer(client: httpx.Client, dso: Wallet) -> None:
    newcomer = Wallet(client)
    for value in (True, False, 1.0, "1"):
        body = {"address": newcomer.address, "role": "consumer", "lock_in_slots": value}
        _refused(dso.post("/dso/members", body), "lock_in_slots")
    tariff = {
        "from_slot": 10**6,
        "retail_price": True,
        "feed_in_price": 70_000,
        "grid_fee": 100_000,
        "p2p_grid_fee": 40_000,
        "trade_fee_buy": 5_000,
        "trade_fee_sell": 5_000,
        "community_price": 190_000,
        "service_fee": 2 * EUR,
        "mode": "uniform",
    }
    _refused(dso.post("/dso/tariffs", tariff), "retail_price")
    _refused(
        dso.post("/dso/tariffs", {**tariff, "retail_price": 1, "from_slot": True}), "from_slot"
    )
    # The contracts store the service fee as a uint64: a larger one is refused before signing.
    over = dso.post("/dso/tariffs", {**tariff, "retail_price": 200_000, "service_fee": 2**64})
    assert over.status_code == 422 and "service_fee" in over.json()["message"], over.text
    mint = {"member": newcomer.address, "amount": True, "reference": "bool"}
    _refused(dso.post("/dso/top-ups", mint), "amount")
    flex = {"slot": 10**6, "direction": "reduce_import", "quantity_wh": True, "max_price": 1}
    _refused(dso.post("/dso/flexibility/requests", flex), "quantity_wh")
    # Query parameters: "true" is no slot number either.
    r = client.get("/slots", params={"from_slot": "true", "to_slot": 1})
    assert r.status_code == 422 and "from_slot" in r.json()["message"], r.text
    # Nothing was registered on the way.
    newcomer.sign_in()
    assert newcomer.get("/auth/me").json()["member_role"] is None


def test_the_dso_sets_a_battery_lease(client: httpx.Client, dso: Wallet) -> None:
    """PUT /dso/leases/{member}: the lease every period's close charges; only the DSO, only a
    member (the contract's named error as a 4xx), a strict integer below 2**96."""
    lessee = new_member(client, dso, role="consumer")
    path = f"/dso/leases/{lessee.address.lower()}"
    assert dso.get(path).json() == {"member": lessee.address, "per_period": 0}
    r = dso.put(path, {"per_period": 2 * EUR})
    assert r.status_code == 200, r.text
    assert dso.get(path).json() == {"member": lessee.address, "per_period": 2 * EUR}
    assert lessee.put(path, {"per_period": 0}).status_code == 403
    _refused(dso.put(path, {"per_period": True}), "per_period")
    assert dso.put(path, {"per_period": 2**96}).status_code == 422
    outsider = f"/dso/leases/0x{'ab' * 20}"
    refused = dso.put(outsider, {"per_period": EUR})
    assert refused.status_code == 409 and "ProfitSharingNotMember" in refused.text, refused.text
    assert dso.put(path, {"per_period": 0}).status_code == 200
    assert dso.get(path).json()["per_period"] == 0


def test_a_bool_is_not_a_top_up_amount(client: httpx.Client, dso: Wallet) -> None:
    m = new_member(client, dso)
    _refused(m.post("/wallet/top-ups", {"amount": True}), "amount")
    assert m.get("/wallet/top-ups").json() == []


# -- routing ----------------------------------------------------------------------------------


def test_405_lists_every_method_of_the_path(client: httpx.Client) -> None:
    cases = {
        ("PUT", "/orders/5"): "DELETE, GET",
        ("PATCH", "/wallet/top-ups"): "GET, POST",
        ("GET", "/orders/typed-data"): "POST",
        ("DELETE", "/orders/typed-data"): "POST",
        ("POST", "/market"): "GET",
        ("DELETE", "/dso/top-ups/GS-X/confirm"): "POST",
    }
    for (method, path), allow in cases.items():
        r = client.request(method, path)
        assert r.status_code == 405, (method, path, r.status_code, r.text)
        assert r.headers["allow"] == allow, (method, path)
        assert r.json()["code"] == "method_not_allowed"
        assert allow in r.json()["message"]


def test_order_ids_are_numbers(client: httpx.Client, dso: Wallet) -> None:
    m = new_member(client, dso)
    assert m.get("/orders/123456789").json()["code"] == "order_not_found"
    assert m.get("/orders/typed-data").status_code == 405  # not GET /orders/{order_id}
    assert m.get("/orders/abc").status_code == 404


def test_history_and_list_endpoints_have_the_range_cap(client: httpx.Client, dso: Wallet) -> None:
    m = new_member(client, dso)
    # A history is asked by period or by range; a list by range or for its recent default.
    either = "give period, or from_slot and to_slot"
    halves = {
        "/readings": either,
        "/trades": either,
        "/orders": "give both from_slot and to_slot, or neither",
        "/flexibility/earnings": "give both from_slot and to_slot, or neither",
    }
    for path, half_message in halves.items():
        r = m.get(path, params={"from_slot": 0, "to_slot": MAX_SLOTS})
        assert r.status_code == 422, (path, r.text)
        assert r.json() == {
            "code": "range_too_long",
            "message": f"at most {MAX_SLOTS} slots per request",
        }
        backwards = m.get(path, params={"from_slot": 5, "to_slot": 4})
        assert backwards.json()["code"] == "invalid_range", path
        half = m.get(path, params={"from_slot": 5})
        assert half.status_code == 422, (path, half.text)
        assert half.json() == {"code": "invalid_range", "message": half_message}
    both = m.get("/orders", params={"slot": 5, "from_slot": 5, "to_slot": 6})
    assert both.status_code == 422 and both.json()["code"] == "invalid_range"
    assert m.get("/orders", params={"from_slot": 0, "to_slot": MAX_SLOTS - 1}).json() == []


def test_orders_in_a_slot_range(client: httpx.Client, node: Node, dso: Wallet) -> None:
    m = new_member(client, dso, top_up=50 * EUR)
    s = open_slot(client, node)
    for k in range(3):
        r = m.post("/orders", m.intent(s + k, "buy", 1_000 + k, 150_000))
        assert r.status_code == 201, r.text
    placed = m.post("/orders/direct", m.direct_order(s + 1, "sell", 700, 100_000))
    assert placed.status_code == 201, placed.text
    (direct_id,) = placed.json()["order_ids"]

    def listed(**params: int) -> list[tuple[str, int, str, int, str]]:
        r = m.get("/orders", params=params)
        assert r.status_code == 200, r.text
        return [(o["kind"], o["slot"], o["side"], o["energy_wh"], o["status"]) for o in r.json()]

    later = [
        ("direct", s + 1, "sell", 700, "open"),
        ("intent", s + 1, "buy", 1_001, "pending"),
        ("intent", s + 2, "buy", 1_002, "pending"),
    ]
    assert listed(from_slot=s + 1, to_slot=s + 2) == later
    assert listed(from_slot=s + 1, to_slot=s + 1) == later[:2] == listed(slot=s + 1)
    assert listed(from_slot=s + 3, to_slot=s + 3 + MAX_SLOTS - 1) == []
    assert listed() == [("intent", s, "buy", 1_000, "pending"), *later]  # the default range
    (direct,) = [
        o for o in m.get("/orders", params={"slot": s + 1}).json() if o["kind"] == "direct"
    ]
    assert (direct["id"], direct["owner"], direct["limit_price"]) == (
        direct_id,
        m.address,
        100_000,
    )


# -- top-ups ----------------------------------------------------------------------------------


def test_only_members_may_ask_for_a_top_up(client: httpx.Client) -> None:
    outsider = Wallet(client)
    outsider.sign_in()
    r = outsider.post("/wallet/top-ups", {"amount": 10 * EUR})
    assert r.status_code == 403, r.text
    assert r.json() == {
        "code": "not_member",
        "message": f"{outsider.address} is not a trading member",
    }


def test_top_up_caps(client: httpx.Client, dso: Wallet, settings: Settings) -> None:
    assert (settings.api_top_up_max_amount, settings.api_top_up_max_open) == (500 * EUR, 3)
    m = new_member(client, dso)
    big = m.post("/wallet/top-ups", {"amount": 500 * EUR + 1})
    assert big.status_code == 422, big.text
    assert big.json()["code"] == "top_up_too_large"
    assert "500 €" in big.json()["message"]
    assert "api_top_up_max_amount" in big.json()["message"]
    refs = []
    for _ in range(3):
        r = m.post("/wallet/top-ups", {"amount": 500 * EUR})
        assert r.status_code == 201, r.text
        refs.append(r.json()["reference"])
    fourth = m.post("/wallet/top-ups", {"amount": EUR})
    assert fourth.status_code == 429, fourth.text
    assert fourth.json()["code"] == "too_many_open_top_ups"
    assert "cap is 3 open requests" in fourth.json()["message"]
    # A paid (minted) request is no longer open.
    assert dso.post(f"/dso/top-ups/{refs[0]}/confirm").status_code == 200
    assert m.post("/wallet/top-ups", {"amount": EUR}).status_code == 201
    assert len(m.get("/wallet/top-ups").json()) == 4


def test_top_up_lists_are_paged_newest_first(client: httpx.Client, dso: Wallet) -> None:
    m = new_member(client, dso)
    # Times are whole seconds: start in a second of our own so that the DSO's newest are ours.
    time.sleep(1.1)
    made = [m.post("/wallet/top-ups", {"amount": (k + 1) * EUR}).json() for k in range(3)]
    # Newest first: by time, then by reference (three requests may share a second).
    newest = sorted(made, key=lambda t: (t["requested_at"], t["reference"]), reverse=True)
    assert dso.post(f"/dso/top-ups/{newest[1]['reference']}/confirm").status_code == 200
    newest[1] = {**newest[1], "status": "confirmed"}

    assert m.get("/wallet/top-ups").json() == newest
    first = m.get("/wallet/top-ups", params={"limit": 2}).json()
    assert first == newest[:2]
    rest = m.get("/wallet/top-ups", params={"limit": 2, "before": first[-1]["reference"]})
    assert rest.json() == newest[2:]
    assert m.get("/wallet/top-ups", params={"before": newest[2]["reference"]}).json() == []

    # The DSO's list pages the same way, the status filter reading on until a page is full.
    top = dso.get("/dso/top-ups", params={"limit": 3}).json()
    assert top == newest
    pending = [t for t in newest if t["status"] == "pending"]
    one = dso.get("/dso/top-ups", params={"status": "pending", "limit": 1}).json()
    assert one == pending[:1]
    two = dso.get(
        "/dso/top-ups", params={"status": "pending", "limit": 1, "before": one[0]["reference"]}
    )
    assert two.json() == pending[1:2]
    confirmed = dso.get("/dso/top-ups", params={"status": "confirmed", "limit": 1}).json()
    assert confirmed == [newest[1]]

    # Caps and cursors.
    for path, who in (("/wallet/top-ups", m), ("/dso/top-ups", dso)):
        r = who.get(path, params={"limit": 1001})
        assert r.status_code == 422, (path, r.text)
        assert r.json()["code"] == "invalid_request"
        assert r.json()["message"] == "query.limit: Input should be less than or equal to 1000"
        assert who.get(path, params={"limit": 0}).status_code == 422
        unknown = who.get(path, params={"before": "GS-NOPE"})
        assert unknown.status_code == 422, (path, unknown.text)
        assert unknown.json() == {
            "code": "invalid_cursor",
            "message": "before: no top-up request 'GS-NOPE' to list from",
        }
    other = new_member(client, dso)
    theirs = other.get("/wallet/top-ups", params={"before": newest[0]["reference"]})
    assert theirs.status_code == 422 and theirs.json()["code"] == "invalid_cursor"


def test_no_top_up_for_a_member_who_left(client: httpx.Client, dso: Wallet, node: Node) -> None:
    m = new_member(client, dso)
    req = m.post("/wallet/top-ups", {"amount": 10 * EUR}).json()
    # The member leaves (it pays its own gas for that) before the DSO confirms the payment.
    node.w3.eth.send_transaction(
        {"from": node.w3.eth.accounts[DSO_ACCOUNT], "to": m.address, "value": Wei(10**17)}
    )
    leave = node.contract("Membership").functions.requestExit()
    node.transact(leave, Sender.from_key("0x" + bytes(m.account.key).hex()))
    r = dso.post(f"/dso/top-ups/{req['reference']}/confirm")
    assert r.status_code == 409, r.text
    assert r.json() == {
        "code": "not_member",
        "message": f"top-up request {req['reference']}: {m.address} is no longer a member; "
        "nothing minted",
    }
    assert m.get(f"/wallet/top-ups/{req['reference']}").json()["status"] == "pending"
    assert m.get("/wallet").json()["balance"] == 0


def test_the_token_refuses_a_mint_to_a_non_member(client: httpx.Client, dso: Wallet) -> None:
    """POST /dso/top-ups is not checked by the API (it may fund the DSO's own accounts): the
    token's EnergyTokenNotMember comes back as a 409 naming the error, not a 502."""
    stranger = Wallet(client)
    body = {"member": stranger.address, "amount": 5 * EUR, "reference": "BANK-STRANGER"}
    r = dso.post("/dso/top-ups", body)
    assert r.status_code == 409, r.text
    answer = r.json()
    assert (answer["code"], answer["contract_error"]) == ("chain_revert", "EnergyTokenNotMember")
    assert answer["args"] == [stranger.address.lower()]
    assert answer["message"] == "the contract refused: EnergyTokenNotMember"
    stranger.sign_in()
    assert stranger.get("/wallet").json()["balance"] == 0


# -- the node down ----------------------------------------------------------------------------


class Proxy:
    """A TCP forwarder to the node that can be closed: the API behind it then sees a node that
    refuses connections (its port closed), while the shared ganache keeps running."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.closed:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):  # wakes the blocked accept(); close() alone does not
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def api_behind_proxy(
    chain: DevChain, settings: Settings, node: Node
) -> Iterator[tuple[str, Proxy]]:
    url = str(node.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    host, port = url.split("//")[1].rstrip("/").split(":")
    proxy = Proxy((host, int(port)))
    api_port = free_port()
    mine = settings.model_copy(
        update={"rpc_url": f"http://127.0.0.1:{proxy.port}", "api_port": api_port}
    )
    app = wiring.api_app(mine, chain.network_id)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{api_port}", proxy
    proxy.close()
    server.should_exit = True
    thread.join(timeout=10)


def test_node_down_is_503_within_2_seconds(
    api_behind_proxy: tuple[str, Proxy], dso: Wallet
) -> None:
    base, proxy = api_behind_proxy
    with httpx.Client(base_url=base, timeout=30) as c:
        operator = Wallet(c, account=dso.account)
        operator.sign_in()
        assert c.get("/market").status_code == 200
        assert operator.get("/dso/fees").status_code == 200
        proxy.close()
        # The head poll (every 0.1 s here) finds the node gone and drops the cached reads.
        deadline = time.monotonic() + 5
        while c.get("/market").status_code != 503:
            assert time.monotonic() < deadline, "reads still answered from the cache"
            time.sleep(0.05)
        requests = [
            ("GET", "/market", None),
            ("GET", "/slots/3", None),
            ("GET", "/audit/status", None),
            ("GET", "/wallet", None),
            ("GET", "/dso/fees", None),
            ("POST", "/dso/members", {"address": Wallet(c).address, "role": "consumer"}),
        ]
        slowest = 0.0
        for method, path, body in requests:
            start = time.monotonic()
            r = c.request(method, path, json=body, headers=operator.headers)
            elapsed = time.monotonic() - start
            slowest = max(slowest, elapsed)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.json()["code"] == "node_unavailable", r.text
            assert "unreachable" in r.json()["message"]
            assert elapsed < 2.0, (path, elapsed)
        print(f"slowest 503 with the node down: {slowest * 1000:.0f} ms")


# -- the process: start-up refusal and SIGTERM -------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSHARE_")}
    return {**env, "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml", **extra}


def test_refuses_to_start_without_the_write_accounts(tmp_path: Path) -> None:
    cases = {
        "": "the relayer (GRIDSHARE_API_RELAYER or GRIDSHARE_API_RELAYER_KEY) and the operator "
        "(GRIDSHARE_API_OPERATOR or GRIDSHARE_API_OPERATOR_KEY)",
        "GRIDSHARE_API_RELAYER": "the operator (GRIDSHARE_API_OPERATOR or "
        "GRIDSHARE_API_OPERATOR_KEY)",
    }
    for present, missing in cases.items():
        extra = {present: "0x" + "11" * 20} if present else {}
        done = subprocess.run(
            [*GRIDSHARE, "api", "--network", "nowhere", "--db", f"sqlite:///{tmp_path}/i.db"],
            env=_env(**extra),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr == (
            f"error: the write endpoints need {missing}; set them, or "
            "GRIDSHARE_API_READ_ONLY=true to serve reads only\n"
        )


class OtherChain(BaseHTTPRequestHandler):
    """A JSON-RPC node of a chain that is not a local development chain (Gnosis, id 100): it
    answers eth_chainId, all the API asks before it refuses."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply: dict[str, object] = {"jsonrpc": "2.0", "id": request["id"]}
        if request["method"] == "eth_chainId":
            reply["result"] = hex(100)
        else:
            reply["error"] = {"code": -32601, "message": "not here"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_dev_sign_in_helper_only_on_a_local_dev_chain(
    client: httpx.Client, tmp_path: Path
) -> None:
    # Not asked for (the shared API, chain 1337): not there.
    assert client.get("/dev/accounts").status_code == 404
    body = {"address": "0x" + "11" * 20, "message": "hi"}
    assert client.post("/dev/sign-message", json=body).status_code == 404
    # Asked for on another chain: `gridshare api` refuses to start, one line, exit 2.
    server = ThreadingHTTPServer(("127.0.0.1", 0), OtherChain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    manifest = {"network": "gnosis", "chain_id": 100, "deployed_at_block": 1}
    (tmp_path / "gnosis.json").write_text(json.dumps({**manifest, "contracts": {}, "abi": {}}))
    accounts = tmp_path / "dev-accounts.json"
    accounts.write_text(json.dumps({"accounts": []}))
    try:
        done = subprocess.run(
            [*GRIDSHARE, "api", "--network", "gnosis", "--db", f"sqlite:///{tmp_path}/i.db"],
            env=_env(
                GRIDSHARE_RPC_URL=f"http://127.0.0.1:{server.server_address[1]}",
                GRIDSHARE_DEPLOYMENTS_DIR=str(tmp_path),
                GRIDSHARE_API_READ_ONLY="true",
                GRIDSHARE_API_DEV_ACCOUNTS=str(accounts),
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.shutdown()
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: api_dev_accounts is set but chain 100 is not a local development chain "
        "(ids 1337, 31337): refusing to serve the dev sign-in helper; unset "
        "GRIDSHARE_API_DEV_ACCOUNTS"
    )
    for chain_id in (1, 5, 100, 11155111):
        with pytest.raises(DevHelperRefused):
            refuse_unless_dev_chain(chain_id)
    refuse_unless_dev_chain(1337)
    refuse_unless_dev_chain(31337)


def _serve(chain: DevChain, node: Node, tmp_path: Path, **extra: str) -> tuple[Popen, str]:
    port = free_port()
    env = _env(
        GRIDSHARE_DEPLOYMENTS_DIR=str(chain.deployments_dir),
        GRIDSHARE_API_SESSION_SECRET="test-secret",
        GRIDSHARE_INTENT_POOL_URL=f"sqlite:///{tmp_path}/intents.db",  # not the working dir
        **extra,
    )
    command = [*GRIDSHARE, "api", "--network", chain.network_id, "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--db", f"sqlite:///{tmp_path}/index.db"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            return process, base
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the API did not start: {process.communicate()}") from None
            time.sleep(0.2)


def test_sigterm_stops_the_server_within_5_seconds(
    chain: DevChain, node: Node, tmp_path: Path
) -> None:
    accounts = [str(a) for a in node.w3.eth.accounts]
    process, base = _serve(
        chain,
        node,
        tmp_path,
        GRIDSHARE_API_RELAYER=accounts[RELAYER_ACCOUNT],
        GRIDSHARE_API_OPERATOR=accounts[DSO_ACCOUNT],
    )
    with httpx.Client(base_url=base, timeout=10) as c:  # a kept-alive connection stays open
        assert c.get("/market").status_code == 200
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        finally:
            process.kill()
        elapsed = time.monotonic() - start
    print(f"SIGTERM to exit: {elapsed * 1000:.0f} ms")
    assert elapsed < 5.0


def test_read_only_starts_and_refuses_writes(
    chain: DevChain, node: Node, dso: Wallet, tmp_path: Path
) -> None:
    process, base = _serve(chain, node, tmp_path, GRIDSHARE_API_READ_ONLY="true")
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/market").status_code == 200
            operator = Wallet(c, account=dso.account)
            operator.sign_in()
            r = operator.post("/dso/members", {"address": Wallet(c).address, "role": "consumer"})
            assert r.status_code == 503, r.text
            assert r.json() == {
                "code": "read_only",
                "message": "this API serves reads only: no operator account configured",
            }
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    read_only = [line for line in stderr.splitlines() if "read-only" in line]
    assert len(read_only) == 1, stderr
