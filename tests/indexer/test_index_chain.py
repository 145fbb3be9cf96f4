"""The index against a real ganache with real market activity, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from sqlalchemy import Engine, func, select, update
from web3.exceptions import MismatchedABI
from web3.types import Wei

from chain.codec import ROLE_CODES
from chain.intents import Intent, SignedIntent, intent_typed_data
from chain.node import Node, Sender
from chain.signing import sign_typed_data
from indexer.decode import Decoder
from indexer.schema import blocks, checkpoint, event_table, event_tables
from indexer.service import Indexer, iter_rows
from indexer.spec import snake_case
from matcher.service import Matcher
from tests.indexer.conftest import trade_slot
from tests.matcher.helpers import MATCHER, MEMBERS, Market

NewDb = Callable[[], Engine]


def indexer(node: Node, engine: Engine, batch: int = 50, confirmations: int = 0) -> Indexer:
    return Indexer(node, engine, batch_blocks=batch, confirmations=confirmations)


def chain_events(node: Node, to_block: int) -> Counter[str]:
    """Table name of every log the deployment's contracts emitted, counted, straight from the
    node (web3's own decoding, not the indexer's)."""
    counts: Counter[str] = Counter()
    first = node.manifest.deployed_at_block
    for name in node.manifest.contracts:
        contract = node.contract(name)
        for event in contract.all_events():
            found = event.get_logs(from_block=first, to_block=to_block)
            counts[f"ev_{snake_case(name)}_{snake_case(event.event_name)}"] += len(found)
    return +counts


def table_counts(engine: Engine) -> Counter[str]:
    counts: Counter[str] = Counter()
    with engine.connect() as connection:
        for table in event_tables():
            counts[table.name] = int(
                connection.execute(select(func.count()).select_from(table)).scalar_one()
            )
    return +counts


def test_every_event_of_every_contract_lands_typed(
    market: Market, node: Node, new_db: NewDb
) -> None:
    engine = new_db()
    idx = indexer(node, engine)
    idx.run_once()
    head = idx.checkpoint().block_number

    assert head == node.block_number()
    assert table_counts(engine) == chain_events(node, head)
    with engine.connect() as connection:
        placed = (
            connection.execute(
                select(event_table("OrderBook", "OrderPlaced")).order_by("block_number")
            )
            .mappings()
            .all()
        )
        settled = (
            connection.execute(select(event_table("settlement", "slot_settled"))).mappings().all()
        )
    alice = market.accounts[MEMBERS[0]]
    first = placed[0]
    assert (first["owner"], first["side"], first["energy_wh"], first["limit_price"]) == (
        alice,
        0,
        3000,
        190_000,
    )
    assert isinstance(first["escrow"], int) and first["escrow"] == 3000 * (190_000 + 45_000)
    assert len(first["tx_hash"]) == 66 and len(first["block_hash"]) == 66
    assert first["block_time"] == node.block_timestamp(first["block_number"])
    crossing = [s for s in settled if s["volume_wh"] > 0]
    assert [s["fills"] for s in crossing] == [[3000, 0, 2500, 500, 0]]
    assert crossing[0]["price"] == 170_000


def test_decoding_agrees_with_web3(market: Market, node: Node) -> None:
    """Every log of the deployment decodes to the same values as web3's own event decoding."""
    decoder = Decoder(node.manifest.contracts, node.manifest.abi)
    first, head = node.manifest.deployed_at_block, node.block_number()
    raw = node.get_logs(list(node.manifest.contracts.values()), first, head)
    by_address = {a: n for n, a in node.manifest.contracts.items()}
    seen: set[str] = set()
    for entry in raw:
        name = by_address[entry["address"]]
        decoded = []
        for event in node.contract(name).all_events():
            try:
                decoded.append((event.event_name, event.process_log(entry)))
            except MismatchedABI:
                continue
        ((event_name, data),) = decoded
        table, row = decoder.row(entry, 0)
        assert table is event_table(name, event_name)
        expected = _flatten(dict(data["args"]))
        assert {k: row[k] for k in expected} == expected
        assert (row["tx_hash"], row["log_index"]) == (
            "0x" + bytes(data["transactionHash"]).hex(),
            data["logIndex"],
        )
        seen.add(table.name)
    # structs (the tariff), arrays (fills), bytes32, enums, indexed and plain arguments
    assert {"ev_community_tariff_scheduled", "ev_settlement_slot_settled"} <= seen
    assert {"ev_energy_token_top_up", "ev_order_book_order_placed"} <= seen


def _flatten(args: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """web3's decoded arguments as index columns: snake_case, structs flattened, hex, lists."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        name = prefix + snake_case(key)
        if isinstance(value, Mapping):
            out |= _flatten(dict(value), name + "_")
        elif isinstance(value, bytes):
            out[name] = "0x" + value.hex()
        elif isinstance(value, list | tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def test_full_width_integers_and_hex_round_trip(market: Market, node: Node, new_db: NewDb) -> None:
    """uint256 max (an unlimited allowance) and bytes32 come back exact on both databases."""
    token = node.contract("EnergyToken")
    owner, spender = MEMBERS[4], MEMBERS[5]
    node.transact(
        token.functions.approve(market.accounts[spender], 2**256 - 1), market.sender(owner)
    )
    engine = new_db()
    indexer(node, engine).run_once()
    approval = event_table("EnergyToken", "Approval")
    with engine.connect() as connection:
        values = (
            connection.execute(
                select(approval.c.value).where(approval.c.owner == market.accounts[owner])
            )
            .scalars()
            .all()
        )
        refs = (
            connection.execute(select(event_table("EnergyToken", "TopUp").c.payment_ref))
            .scalars()
            .all()
        )
    assert values[-1] == 2**256 - 1
    assert "0x" + b"matcher-test-6".ljust(32, b"\0").hex() in refs


def test_rerun_over_the_same_range_changes_nothing(
    market: Market, node: Node, new_db: NewDb
) -> None:
    engine = new_db()
    idx = indexer(node, engine, batch=7)
    idx.run_once()
    before = iter_rows(engine, [*event_tables(), blocks])
    with engine.begin() as connection:  # as if the checkpoint had not been written
        connection.execute(
            update(checkpoint).values(
                block_number=node.manifest.deployed_at_block - 1, block_hash=None
            )
        )
    idx.run_once()
    assert iter_rows(engine, [*event_tables(), blocks]) == before
    assert idx.run_once() == []


def test_rebuild_from_scratch_equals_incremental(market: Market, node: Node, new_db: NewDb) -> None:
    incremental = new_db()
    idx = indexer(node, incremental, batch=3)
    idx.run_once()
    trade_slot(market, offset=1)
    idx.run_once()
    trade_slot(market, offset=2)
    idx.run_once()

    rebuilt = new_db()
    indexer(node, rebuilt, batch=1000).run_once()

    assert iter_rows(rebuilt, event_tables()) == iter_rows(incremental, event_tables())
    assert table_counts(rebuilt) == chain_events(node, node.block_number())


def _mine(node: Node, market: Market, count: int, value: int) -> None:
    """`count` blocks of plain transfers; `value` makes them differ from another fork's."""
    sender = market.accounts[0]
    for _ in range(count):
        node.w3.eth.send_transaction(
            {
                "from": sender,
                "to": market.accounts[1],
                "value": Wei(value),
                "gasPrice": Wei(node.gas_price_wei),
            }
        )


def _tx_hashes(engine: Engine) -> set[str]:
    out: set[str] = set()
    with engine.connect() as connection:
        for table in event_tables():
            out |= set(connection.execute(select(table.c.tx_hash)).scalars())
    return out


class _Pool:
    """An intent pool (matcher.intents.Pool) holding one slot's intents."""

    def __init__(self, slot: int, intents: list[SignedIntent]) -> None:
        self.slot, self.intents, self.done = slot, intents, False

    def pending(self, slot: int) -> list[SignedIntent]:
        return self.intents if slot == self.slot and not self.done else []

    def resolve(self, slot: int, included: Any, left_out: Any, tx_hash: str | None) -> None:
        self.done = self.done or slot == self.slot


@pytest.fixture(scope="module")
def intent_slot(market: Market, node: Node) -> tuple[int, Intent, str]:
    """A member with its own key revokes once, then sells through a signed intent that the
    matcher carries into a slot beside a direct buy. Returns the slot, the intent, the member."""
    key = "0x" + "5e" * 32
    member = Account.from_key(key).address
    market.dso_call("Community", "registerMember", member, ROLE_CODES["prosumer"], 0)
    market.dso_call("EnergyToken", "topUp", member, 10**9, keccak(text="index intents"))
    node.w3.eth.send_transaction(
        {
            "from": market.accounts[0],
            "to": member,
            "value": Wei(10**18),
            "gasPrice": Wei(node.gas_price_wei),
        }
    )
    settlement = node.contract("Settlement")
    node.transact(settlement.functions.revokeIntents(), Sender.from_key(key))
    slot = market.open_slot()
    market.place(MEMBERS[0], slot, "buy", 1000, 190_000)
    community = node.contract("Community").functions
    deadline = int(node.call(community.slotStart(slot + 1)))
    intent = Intent(member, slot, "sell", 600, 100_000, 1, deadline)
    typed = intent_typed_data(intent, node.manifest.chain_id, node.manifest.contracts["Settlement"])
    pool = _Pool(slot, [SignedIntent(intent, sign_typed_data(typed, key))])
    market.close_gate(slot)
    Matcher(node, Sender(market.accounts[MATCHER]), pool).run_once()
    assert pool.done
    return slot, intent, member


def test_intents_and_revocations_land_typed(
    intent_slot: tuple[int, Intent, str], node: Node, new_db: NewDb
) -> None:
    """SlotSettled's intent words, ids and aux words (uint256 arrays, exact; the aux word is
    `deadline | epoch << 64`), IntentsRevoked by member."""
    slot, intent, member = intent_slot
    engine = new_db()
    indexer(node, engine).run_once()
    settled_table = event_table("Settlement", "SlotSettled")
    revoked_table = event_table("Settlement", "IntentsRevoked")
    with engine.connect() as connection:
        row = (
            connection.execute(select(settled_table).where(settled_table.c.slot == slot))
            .mappings()
            .one()
        )
        revoked = connection.execute(select(revoked_table)).mappings().all()
    assert row["intent_words"] == [intent.order_word()]
    assert row["intent_ids"] == [intent.id] and intent.id >= 1 << 64
    assert row["intent_aux"] == [intent.event_aux()] and intent.epoch == 1
    assert row["fills"] == [600, 600]  # the direct buy, then the intent
    assert [(r["member"], r["epoch"]) for r in revoked] == [(member, 1)]
    assert table_counts(engine) == chain_events(node, node.block_number())


def test_reorg_rolls_back_orphaned_rows_and_reads_the_new_fork(
    market: Market, node: Node, new_db: NewDb
) -> None:
    engine = new_db()
    idx = indexer(node, engine, batch=4)
    idx.run_once()
    snapshot = node.make_request("evm_snapshot", [])
    fork_block = node.block_number()

    trade_slot(market, offset=3)  # the fork that will be orphaned
    idx.run_once()
    orphaned = _tx_hashes(engine)
    assert idx.checkpoint().block_number > fork_block

    assert node.make_request("evm_revert", [snapshot]) is True
    # The chain is now shorter than the index: the checkpoint block is gone.
    idx.run_once()
    assert idx.checkpoint().block_number <= fork_block
    with engine.connect() as connection:
        assert connection.execute(select(func.max(blocks.c.number))).scalar_one() <= fork_block
    # A different fork, longer than the orphaned one.
    _mine(node, market, 3, 7)
    trade_slot(market, offset=4)
    idx.run_once()

    kept = _tx_hashes(engine)
    removed = orphaned - kept
    assert removed, "the orphaned fork's transactions should have left the index"
    assert not any(_known(node, h) for h in removed)
    rebuilt = new_db()
    indexer(node, rebuilt, batch=1000).run_once()
    assert iter_rows(rebuilt, event_tables()) == iter_rows(engine, event_tables())
    assert table_counts(engine) == chain_events(node, idx.checkpoint().block_number)


def _known(node: Node, tx_hash: str) -> bool:
    from web3.exceptions import TransactionNotFound

    try:
        node.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True
