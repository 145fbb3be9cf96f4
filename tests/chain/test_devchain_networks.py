"""Dev chains register themselves in brownie's network config (chain/devchain.py): side by side
(make test's two lanes each start some), no entry may be lost and no reader may find the file
half-written. Real processes on a real file; no node is started."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from chain.devchain import add_dev_network, remove_dev_network

ORIGINAL = {
    "development": [
        {"cmd": "anvil", "cmd_settings": {"port": 8545}, "host": "http://127.0.0.1", "id": "anvil"}
    ],
    "live": [{"name": "Ethereum", "networks": [{"id": "mainnet", "host": "https://x"}]}],
}


def _churn(config: str, worker: int, rounds: int) -> None:
    import os

    os.environ["GRIDSHARE_BROWNIE_NETWORK_CONFIG"] = config
    for r in range(rounds):
        add_dev_network(f"gs-{worker}-{r}", "anvil" if r % 2 else "ganache", 20_000 + r)
        if r % 2:
            remove_dev_network(f"gs-{worker}-{r}")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "network-config.yaml"
    path.write_text(yaml.dump(ORIGINAL))
    monkeypatch.setenv("GRIDSHARE_BROWNIE_NETWORK_CONFIG", str(path))
    return path


def test_an_entry_is_what_brownie_networks_add_writes_and_goes_again(config: Path) -> None:
    add_dev_network("gs-probe", "anvil", 9999)
    entries = yaml.safe_load(config.read_text())["development"]
    assert entries[-1] == {
        "cmd": "anvil",
        "cmd_settings": {"port": 9999},
        "host": "http://127.0.0.1",
        "id": "gs-probe",
        "name": "gs-probe",
    }
    with pytest.raises(RuntimeError, match="already exists"):
        add_dev_network("gs-probe", "ganache", 9998)
    remove_dev_network("gs-probe")
    assert yaml.safe_load(config.read_text()) == ORIGINAL


def test_chains_registered_side_by_side_lose_nothing(config: Path) -> None:
    workers, rounds = 4, 12
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_churn, args=(str(config), w, rounds)) for w in range(workers)]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):  # a reader meanwhile: always a whole file
        loaded = yaml.safe_load(config.read_text())
        assert loaded["live"] == ORIGINAL["live"]
        seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    ids = {e["id"] for e in yaml.safe_load(config.read_text())["development"]}
    kept = {f"gs-{w}-{r}" for w in range(workers) for r in range(0, rounds, 2)}
    assert ids == {"anvil"} | kept
    assert seen > 0
    assert not list(config.parent.glob(".network-config.yaml.*"))  # nothing staged left over
