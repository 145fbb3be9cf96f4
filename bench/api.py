"""API latency benchmark: `make bench-api` (`python -m bench.api`).

Starts a private ganache (devchain, free port), deploys, serves the API with the real command
(`gridshare api --network <id>`, one uvicorn process), signs a member in through SIWE, and then
drives one endpoint at a time with Debian's `hey` at a fixed rate (50 workers x 10 requests/s =
500 requests/s) for 60 s on loopback, after a 5 s warm-up. Latencies are hey's per-request
times (CSV), so the percentiles are computed here over every request.

* `api_balance_p99_ms`: GET /wallet (balance, escrow, debt) with a session token.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_utils.crypto import keccak

from api.client import EUR, Wallet
from bench.report import record
from chain.node import Node, Sender
from gridshare.settings import Settings
from matcher.devchain import DevChain, dev_chain, free_port

RATE_PER_WORKER = 10
WORKERS = 50
DURATION_S = 60
WARMUP_S = 5
GOAL_MS = 20.0


@dataclass(frozen=True)
class Load:
    requests: int
    errors: int
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def hey(url: str, token: str, seconds: int) -> Load:
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(WORKERS),
            "-q",
            str(RATE_PER_WORKER),
            "-H",
            f"Authorization: Bearer {token}",
            "-o",
            "csv",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    times = sorted(float(r["response-time"]) * 1000 for r in rows)
    errors = sum(1 for r in rows if r["status-code"] != "200")
    span = max(float(r["offset"]) for r in rows) if rows else 1.0
    q = statistics.quantiles(times, n=100, method="inclusive")
    return Load(len(rows), errors, len(rows) / span, q[49], q[98], times[-1])


def serve(chain: DevChain, port: int, db: Path, node: Node) -> subprocess.Popen[bytes]:
    accounts = [str(a) for a in node.w3.eth.accounts]
    env = {
        **os.environ,
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_API_RELAYER": accounts[5],
        "GRIDSHARE_API_OPERATOR": accounts[0],
        "GRIDSHARE_API_SESSION_SECRET": "bench-secret",
    }
    gridshare = Path(sys.executable).parent / "gridshare"
    command = [str(gridshare), "api", "--network", chain.network_id, "--port", str(port)]
    process = subprocess.Popen([*command, "--db", f"sqlite:///{db}"], env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the API did not start") from None
            time.sleep(0.2)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, dev_chain(Path(tmp) / "deployments") as chain:
        node = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
        port = free_port()
        api = serve(chain, port, Path(tmp) / "index.db", node)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=60) as client:
                admin = Wallet(client)
                community = node.contract("Community").functions

                node.transact(
                    community.grantRole(keccak(text="DSO_ROLE"), admin.address),
                    Sender(str(node.w3.eth.accounts[0])),
                )
                admin.sign_in()
                member = Wallet(client)
                admin.post("/dso/members", {"address": member.address, "role": "prosumer"})
                admin.post(
                    "/dso/top-ups", {"member": member.address, "amount": 50 * EUR, "reference": "b"}
                )
                member.sign_in()
                assert member.get("/wallet").json()["balance"] == 50 * EUR
                assert member.token is not None
                hey(f"{base}/wallet", member.token, WARMUP_S)
                balance = hey(f"{base}/wallet", member.token, DURATION_S)
        finally:
            api.terminate()
            api.wait(timeout=10)
    print(balance)
    record(
        "api: wallet API latency (issue 6)",
        "make bench-api  (python -m bench.api)",
        {
            "api_balance_p99_ms (goal <= 20)": round(balance.p99_ms, 2),
            "api_balance_p50_ms": round(balance.p50_ms, 2),
            "api_balance_max_ms": round(balance.max_ms, 1),
            "api_balance_requests_per_s (target 500)": round(balance.rate, 1),
            "api_balance_requests / non-200": f"{balance.requests:,} / {balance.errors}",
        },
        f"hey (Debian) -z {DURATION_S}s -c {WORKERS} -q {RATE_PER_WORKER} on loopback after a "
        f"{WARMUP_S} s warm-up; one `gridshare api` process (uvicorn, one worker) against ganache "
        "on the same 2-core machine. Chain reads are cached per head block, so a balance costs "
        "no node request while the chain does not move.",
    )


if __name__ == "__main__":
    main()
