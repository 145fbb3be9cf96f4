"""schemathesis (in its own venv, .venv-fuzz) against the live API's OpenAPI schema: generated
valid and invalid requests to every operation, signed in as a DSO who is also a member, and no
response may be a server error. Bounded: a few examples per operation and a time budget."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from api.client import EUR, Wallet
from chain.node import Node
from gridshare.settings import Settings
from tests.api.chainops import index_once

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-fuzz" / "bin" / "st"
MAX_EXAMPLES = 5


def test_no_server_errors(
    client: httpx.Client,
    base_url: str,
    dso: Wallet,
    node: Node,
    settings: Settings,
    tmp_path: Path,
) -> None:
    if not ST.exists():
        pytest.fail(f"{ST} missing: run `make setup`")
    r = dso.post("/dso/members", {"address": dso.address, "role": "prosumer"})
    assert r.status_code in (201, 409), r.text
    dso.post("/dso/top-ups", {"member": dso.address, "amount": 50 * EUR, "reference": "fuzz"})
    # The event index exists whatever ran before (alone, its endpoints would all answer 503).
    index_once(node, settings)
    done = subprocess.run(
        [
            str(ST),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261121",
            "--generation-database",
            "none",
            "--max-time",
            "40",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "-H",
            f"Authorization: Bearer {dso.token}",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,  # its cache folder goes there, not into the checkout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
