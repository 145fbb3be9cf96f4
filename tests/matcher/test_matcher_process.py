"""A real `gridshare matcher run` process: killed with SIGKILL at random moments and restarted, and
cut off from its node and reconnected. The chain's SlotSettled events are the judge."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from chain.devchain import ROOT, DevChain, free_port
from chain.node import Node, Sender
from matcher.service import Matcher
from tests.contracts.helpers import clear_on_chain_book
from tests.matcher.helpers import MEMBERS, ContractCalls, Market
from tests.matcher.proxy import SwitchableProxy

GRIDSHARE = os.path.join(os.path.dirname(sys.executable), "gridshare")


class MatcherProcess:
    """`gridshare matcher run` in a subprocess; its log lines are read as they come."""

    def __init__(self, network_id: str, env: dict[str, str], *options: str) -> None:
        self.proc = subprocess.Popen(
            [GRIDSHARE, "matcher", "run", "--network", network_id, *options],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._new.put(line)

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        """The next log line matching `pattern` (earlier lines are consumed)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                lines = "".join(self.lines)
                raise AssertionError(f"no log line matching {pattern!r}:\n{lines}") from None
            if re.search(pattern, line):
                return line

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def _settled(node: Node, slot: int) -> bool:
    return bool(node.call(node.contract("Settlement").functions.clearingOf(slot))[0])


def _place_random_orders(market: Market, rng: random.Random, slot: int) -> None:
    for member in rng.sample(list(MEMBERS), 4):
        side = rng.choice(["buy", "sell"])
        market.place(member, slot, side, rng.randint(100, 3000), rng.randint(70_000, 200_000))


def test_killed_at_random_moments_it_settles_every_slot_exactly_once(
    chain: DevChain, market: Market, node: Node, matcher_env: dict[str, str]
) -> None:
    rng = random.Random(20261121)
    matcher_address = matcher_env["GRIDSHARE_MATCHER"]
    start_block = node.w3.eth.block_number + 1
    slots_with_orders: list[int] = []
    kills_with_work_left = 0
    proc = MatcherProcess(chain.network_id, matcher_env, "--poll", "0.1")
    try:
        for round_ in range(6):
            first = market.open_slot()
            for slot in (first, first + 1):  # first + 2 stays empty
                _place_random_orders(market, rng, slot)
                slots_with_orders.append(slot)
            market.close_gate(first + 2)  # three slots due at once
            if round_ % 2:
                proc.wait_for(r"slot \d+ settled")  # mid-batch: right after one slot of the three
            else:
                time.sleep(rng.uniform(0.0, 1.5))  # anywhere: startup, reading, sending, waiting
            proc.kill()
            kills_with_work_left += any(not _settled(node, s) for s in range(first, first + 3))
            proc = MatcherProcess(chain.network_id, matcher_env, "--poll", "0.1")

        last_due = market.open_slot() - 1
        deadline = time.monotonic() + 60
        while not _settled(node, last_due):
            assert time.monotonic() < deadline, "".join(proc.lines)
            time.sleep(0.1)
    finally:
        proc.kill()  # never leave a matcher running into the next test

    events = market.settled_events(node.manifest.deployed_at_block)
    slots = [int(e["slot"]) for e in events]
    first_slot = Matcher(node, Sender(matcher_address)).first_slot()
    assert sorted(slots) == list(range(first_slot, last_due + 1))  # each once, none skipped
    assert slots == sorted(slots)  # and in order
    assert kills_with_work_left >= 1, "no kill interrupted any work: the test proved nothing"
    # The contract's one-settlement rule was never needed: every transaction the matcher sent
    # succeeded and settled a slot's trades or (once delivered) a batch of slots' imbalance.
    # Counted over one fixed block range: a transaction the killed process had sent may still be
    # mined after the kill, and must then be on both sides of the count or on neither.
    latest = node.w3.eth.block_number
    sent = [
        tx["hash"]
        for b in range(start_block, latest + 1)
        for tx in node.w3.eth.get_block(b, full_transactions=True)["transactions"]
        if isinstance(tx, Mapping) and tx["from"].lower() == matcher_address.lower()
    ]
    assert all(node.w3.eth.get_transaction_receipt(h)["status"] == 1 for h in sent)
    digests = (
        node.contract("ImbalanceSettlement")
        .events.SlotDigest()
        .get_logs(from_block=start_block, to_block=latest)
    )
    settled = (
        node.contract("Settlement")
        .events.SlotSettled()
        .get_logs(from_block=start_block, to_block=latest)
    )
    # A batch settles several slots against the meters in one transaction.
    batches = {bytes(d["transactionHash"]) for d in digests}
    settlements = {bytes(e["transactionHash"]) for e in settled}
    assert len(settlements) == len(settled)
    assert {bytes(h) for h in sent} == settlements | batches
    assert len(sent) == len(settled) + len(batches)
    # And every slot settled as the rulebook says.
    by_slot = {int(e["slot"]): e for e in events}
    community, book = ContractCalls(node, "Community"), ContractCalls(node, "OrderBook")
    for slot in slots_with_orders:
        _, clearing, expected = clear_on_chain_book(community, book, slot)
        assert list(by_slot[slot]["fills"]) == expected.fills
        assert by_slot[slot]["price"] == expected.price
        assert by_slot[slot]["volumeWh"] == clearing.volume_wh


def test_node_goes_away_and_comes_back(
    chain: DevChain, market: Market, node: Node, matcher_env: dict[str, str]
) -> None:
    proxy = SwitchableProxy(free_port(), chain.port)
    env = {**matcher_env, "GRIDSHARE_RPC_URL": f"http://127.0.0.1:{proxy.port}"}
    first = market.open_slot()
    market.close_gate(first)
    proc = MatcherProcess(chain.network_id, env, "--poll", "0.1")
    try:
        proc.wait_for(r"unreachable .*attempt 4\)")  # started before its node
        proxy.up()
        proc.wait_for(r"is back after \d+ failed attempts")
        proc.wait_for(rf"slot {first} settled")
        proxy.down()  # the node goes away while the matcher follows the chain
        proc.wait_for(r"unreachable")
        second = market.open_slot()
        market.close_gate(second)
        time.sleep(0.5)
        assert not _settled(node, second)
        proxy.up()
        proc.wait_for(r"is back after")
        proc.wait_for(rf"slot {second} settled")
    finally:
        proc.kill()
        proxy.down()
    delays = [float(d) for d in re.findall(r"retrying in ([\d.]+)s", "".join(proc.lines))]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]  # doubling, capped by rpc_retry_max_seconds


def test_once_gives_up_after_the_retry_limit(chain: DevChain, matcher_env: dict[str, str]) -> None:
    env = {
        **os.environ,
        **matcher_env,
        "GRIDSHARE_RPC_URL": f"http://127.0.0.1:{free_port()}",
        "GRIDSHARE_RPC_RETRY_LIMIT": "3",
    }
    done = subprocess.run(
        [GRIDSHARE, "matcher", "run", "--network", chain.network_id, "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "unreachable after 3 attempts" in done.stderr
    assert done.stderr.count("retrying in") == 2
