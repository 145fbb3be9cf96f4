"""The matcher's flexibility step on a real ganache: it accepts a DSO request in merit order
after its gate and pays it out against the meter baseline once the slot's imbalance is settled;
the audit re-derives it from the events and finds tampered ones."""

from __future__ import annotations

from dataclasses import replace

from eth_account import Account

from audit.checks import audit
from audit.fetch import fetch_events, fetch_state
from chain.node import Node, Sender
from chain.signing import Reading, reading_typed_data, sign_typed_data
from gridshare.settings import Settings
from matcher.service import Matcher
from tests.matcher.helpers import DSO, MEMBERS, NETWORK, ORACLE, Market

EUR = 10**9


def _advance(node: Node, to: int) -> None:
    gap = to - node.block_timestamp()
    if gap > 0:
        node.make_request("evm_increaseTime", [gap])
    node.make_request("evm_mine", [])


def _read(
    node: Node,
    market: Market,
    keys: dict[int, tuple[bytes, bytes]],
    slot: int,
    metered: dict[int, tuple[int, int]],
) -> None:
    readings = node.contract("MeterReadings")
    batch = [Reading(keys[w][0], slot, i, e, slot + 1) for w, (i, e) in metered.items()]
    signatures = [
        sign_typed_data(reading_typed_data(r, node.manifest.chain_id, readings.address), keys[w][1])
        for r, w in zip(batch, metered, strict=True)
    ]
    node.transact(
        readings.functions.submitReadings([r.as_tuple() for r in batch], signatures),
        Sender(market.accounts[ORACLE]),
    )


def test_matcher_accepts_and_pays_flexibility(
    market: Market, node: Node, settings: Settings
) -> None:
    assert settings.matcher is not None
    matcher = Matcher(node, Sender(settings.matcher))
    matcher.run_once()
    flex = node.contract("Flexibility")
    community = node.contract("Community").functions
    a, b = MEMBERS[10], MEMBERS[11]
    keys = {}
    for who in (a, b):
        key = Account.create(f"flex meter {who}")
        meter = f"flex-meter-{who}".encode().ljust(32, b"\0")
        market.dso_call("Community", "registerMeter", meter, market.accounts[who], key.address)
        keys[who] = (meter, key.key)
    market.dso_call(
        "EnergyToken", "topUp", market.accounts[NETWORK], 100 * EUR, b"flex-net".ljust(32, b"\0")
    )
    per_day = 86_400 // int(node.call(community.slotSeconds()))
    history = market.open_slot()
    target = history + per_day
    # Yesterday's same slot: a imported 1,000 Wh (its baseline), b had no reading.
    _advance(node, int(node.call(community.slotStart(history + 1))) + 1)
    _read(node, market, keys, history, {a: (1_000, 0)})

    gate = int(node.call(community.gateClosure(target)))
    node.transact(
        flex.functions.publishRequest(target, 0, 800, 150_000, gate), Sender(market.accounts[DSO])
    )
    rid = int(node.call(flex.functions.requestCount())) - 1
    node.transact(flex.functions.offer(rid, 600, 100_000), Sender(market.accounts[a]))
    node.transact(flex.functions.offer(rid, 500, 120_000), Sender(market.accounts[b]))

    _advance(node, gate + 1)
    matcher.run_once()
    assert int(node.call(flex.functions.requestOf(rid))[7]) == 1  # accepted
    (accepted,) = flex.events.FlexAccepted().get_logs(
        from_block=0, argument_filters={"requestId": rid}
    )
    assert list(accepted["args"]["accepted"]) == [600, 200]

    # a imports 300 Wh: 700 below its baseline, clipped to the 600 accepted; b has no baseline.
    _advance(node, int(node.call(community.slotStart(target + 1))) + 1)
    _read(node, market, keys, target, {a: (300, 0), b: (0, 0)})
    deadline = matcher.imbalance_gw.reading_deadline_seconds()
    _advance(node, int(node.call(community.slotStart(target + 1))) + deadline + 1)
    a_before = market.balance(market.accounts[a])
    matcher.run_once()
    assert int(node.call(flex.functions.requestOf(rid))[7]) == 2  # settled
    delivered = {
        e["args"]["member"]: e["args"]
        for e in flex.events.FlexDelivered().get_logs(
            from_block=0, argument_filters={"requestId": rid}
        )
    }
    got_a = delivered[market.accounts[a]]
    assert (got_a["baselineWh"], got_a["meteredWh"], got_a["deliveredWh"]) == (1_000, 300, 600)
    assert got_a["payment"] == 600 * 100_000 and got_a["penalty"] == 0
    assert not delivered[market.accounts[b]]["measured"]
    # a's balance: the flexibility payment, less its imbalance for the slot (settled first).
    (imb,) = node.events(
        "ImbalanceSettlement",
        "ImbalanceSettled",
        from_block=0,
        argument_filters={"slot": target, "member": market.accounts[a]},
    )
    charged = imb["args"]["collected"]
    assert market.balance(market.accounts[a]) == a_before + 600 * 100_000 - charged + 0

    # The audit re-derives every flexibility step from the events alone, and finds tampering.
    block = node.block_number()
    events = fetch_events(node, block, 5_000)
    state = fetch_state(node, events, block)
    flex_rules = [f for f in audit(events, state).findings if f.rule.startswith("flex-")]
    assert flex_rules == []
    assert not [f for f in audit(events, state).findings if f.rule == "conservation"]

    def tampered(name: str, change: dict[str, object]) -> list[str]:
        out = []
        for e in events:
            if e.name == name and int(e.args["requestId"]) == rid:
                e = replace(e, args={**e.args, **change})
            out.append(e)
        return sorted({f.rule for f in audit(out, state).findings})

    assert "flex-delivery" in tampered("FlexDelivered", {"payment": 600 * 100_000 + 1})
    assert "flex-delivery" in tampered("FlexDelivered", {"deliveredWh": 599})
    assert "flex-acceptance" in tampered("FlexAccepted", {"accepted": [500, 300]})
    assert "flex-payout" in tampered("FlexSettled", {"refunded": 1})
    assert "flex-request" in tampered("FlexRequested", {"escrow": 1})
