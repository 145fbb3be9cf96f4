"""The index of a `sharing` deployment (a real anvil, a slot settled by the matcher from
meter-signed readings over three chunks): SharingSettlement's events land as typed rows equal to
the chain's, with the indexes the allocation export reads by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, inspect, select

from api.history import History
from audit.fetch import fetch_events
from chain.node import Node
from chain.settled import read_settled
from indexer.migrate import upgrade
from indexer.schema import event_table
from indexer.service import Indexer
from indexer.spec import snake_case
from market.statement import LINES, SHARING_LINES, dso_statement, member_statement
from tests.sharing import FLOWS, SharingCommunity

NewDb = Callable[[], Engine]
PERIOD_SLOTS = 1440
"""The sharing deployment's billing period (slots): the statements read no period close."""


def index_sharing(community: SharingCommunity, engine: Engine) -> Node:
    Indexer(community.node, engine, batch_blocks=200, confirmations=0).run_once()
    return community.node


def test_sharing_events_land_as_the_chain_emitted_them(
    sharing_community: SharingCommunity, sharing_slot: int, new_db: NewDb
) -> None:
    engine = new_db()
    node = index_sharing(sharing_community, engine)
    first = node.manifest.deployed_at_block
    for event, key in (
        ("SharingSettled", ("slot", "member")),
        ("SharingSlotDigest", ("slot", "chunk")),
        ("SharingTallied", ("slot", "chunk")),
    ):
        table = event_table("SharingSettlement", event)
        with engine.connect() as connection:
            rows = connection.execute(select(table)).mappings().all()

        def args(e: Any) -> dict[str, Any]:
            return {
                snake_case(k): "0x" + bytes(v).hex() if isinstance(v, bytes) else v
                for k, v in e["args"].items()
            }

        emitted = [args(e) for e in node.events("SharingSettlement", event, from_block=first)]
        stored = [{c: r[c] for c in emitted[0]} for r in rows]
        assert sorted(stored, key=lambda r: [r[k] for k in key]) == sorted(
            emitted, key=lambda r: [r[k] for k in key]
        ), event
    settled = event_table("SharingSettlement", "SharingSettled")
    with engine.connect() as connection:
        in_slot = connection.execute(
            select(settled.c.member, settled.c.bau_cost).where(settled.c.slot == sharing_slot)
        ).all()
    assert len(in_slot) == len(FLOWS)
    assert any(bau < 0 for _, bau in in_slot)  # producers earn: the signed column holds it
    assert all(type(bau) is int for _, bau in in_slot)


def test_sharing_settled_is_indexed_by_slot_and_by_member_and_slot(new_db: NewDb) -> None:
    engine = new_db()
    upgrade(engine)
    name = event_table("SharingSettlement", "SharingSettled").name
    indexes = {tuple(i["column_names"]) for i in inspect(engine).get_indexes(name)}
    assert {("slot",), ("member", "slot"), ("block_number",)} <= indexes


def test_statements_from_the_index_are_the_chains(
    sharing_community: SharingCommunity, sharing_slot: int, new_db: NewDb
) -> None:
    """A member's and the DSO's statement of a sharing slot, read from the index (the API's
    source), equal those read from the chain's events (the audit's), line by line; the shared
    Wh appear as covered by and shared with the community."""
    engine = new_db()
    node = index_sharing(sharing_community, engine)
    events = fetch_events(node, node.block_number(), 1_000)
    chain = read_settled(events)
    history = History(engine)
    period = PERIOD_SLOTS
    lo = hi = sharing_slot
    for key in sharing_community.keys:
        ours = member_statement(key.address, chain, period, lo, hi)
        assert history.statement(key.address, lo, hi, period).as_dict() == ours.as_dict()
    bought = [member_statement(k.address, chain, period, lo, hi) for k in sharing_community.keys]
    assert sum(s["bought_wh"] for s in bought) == sum(s["sold_wh"] for s in bought) > 0
    # Named as the sharing mode works: what the community covered and used, not trades.
    labels = {line.key: line.label for line in bought[0].lines}
    assert labels["energy_bought"] == SHARING_LINES["energy_bought"][0] != LINES["energy_bought"][0]
    assert labels["bought_wh"] == "Covered by the community"
    dso = dso_statement(chain, period, lo, hi)
    assert history.dso_statement(lo, hi, period).as_dict() == dso.as_dict()
    assert dso["bought_wh"] == sum(s["bought_wh"] for s in bought)
