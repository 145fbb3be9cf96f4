"""The intent pool on a real SQLite file and on a real PostgreSQL server (skipped where it is not
installed): storage of every field, idempotence, the matcher's view and resolution, withdrawal,
restarts and concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.intents import Intent, SignedIntent, intent_typed_data
from chain.signing import sign_typed_data
from indexer.devdb import PgServer
from intents.pool import IntentPool, PooledIntent, id_hex
from tests.fixtures import PG_MISSING

CHAIN_ID, SETTLEMENT = 1337, "0x" + "5e" * 20
ALICE: LocalAccount = Account.from_key("0x" + "a1" * 32)
BOB: LocalAccount = Account.from_key("0x" + "b0" * 32)


def signed(
    who: LocalAccount,
    slot: int = 10,
    side: str = "buy",
    energy_wh: int = 1_000,
    price: int = 150_000,
    epoch: int = 0,
    deadline: int = 1_900_000_000,
) -> SignedIntent:
    intent = Intent(who.address, slot, side, energy_wh, price, epoch, deadline)
    typed = intent_typed_data(intent, CHAIN_ID, SETTLEMENT)
    return SignedIntent(intent, sign_typed_data(typed, who.key))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, postgres: PgServer | None, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intents.db'}"
    if postgres is None:
        pytest.skip(PG_MISSING)
    return postgres.new_database().replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pool(url: str) -> Iterator[IntentPool]:
    p = IntentPool(url)
    yield p
    p.close()


def test_add_stores_every_field_and_is_idempotent(pool: IntentPool) -> None:
    s = signed(ALICE, epoch=2**255 + 7, deadline=2**64 - 1)  # beyond a signed 64-bit column
    assert pool.add(s, received_at=1_000)
    assert pool.pending(10) == [s]
    (p,) = pool.of_owner(ALICE.address.upper().replace("0X", "0x"), 0, 100)
    assert p == PooledIntent(s.intent, s.intent.id, "pending", None, 1_000, None, s.signature, None)
    assert p.signed == s
    # The same id again: not stored twice, not overwritten (not even its received_at).
    assert not pool.add(s, received_at=2_000)
    assert pool.of_owner(ALICE.address, 0, 100) == [p]
    assert pool.get(s.intent.id) == p and pool.get(s.intent.id + 1) is None


def test_owner_is_lowercase_and_the_id_64_hex_digits(pool: IntentPool) -> None:
    s = signed(ALICE)
    pool.add(s, 1)
    with pool.engine.connect() as conn:
        (row,) = conn.exec_driver_sql("SELECT id, owner, slot, status FROM intent_pool").all()
    assert row == (f"{s.intent.id:064x}", ALICE.address.lower(), 10, "pending")
    assert id_hex(1) == "0" * 63 + "1"
    with pytest.raises(ValueError):
        id_hex(2**256)


def test_pending_is_the_slots_pending_intents_in_id_order(pool: IntentPool) -> None:
    mine = [signed(ALICE, energy_wh=e) for e in range(1, 8)] + [signed(BOB, side="sell")]
    other_slot = signed(ALICE, slot=11)
    for k, s in enumerate([*mine, other_slot]):
        assert pool.add(s, k)
    got = pool.pending(10)
    assert [s.intent.id for s in got] == sorted(s.intent.id for s in mine)
    assert set(got) == set(mine)
    assert pool.pending(11) == [other_slot] and pool.pending(12) == []
    assert pool.count_pending(ALICE.address, 10) == 7
    assert pool.count_pending(BOB.address.lower(), 10) == 1


def test_resolve_sets_status_and_reason_once_in_one_transaction(pool: IntentPool) -> None:
    a, b, c, d = (signed(ALICE, energy_wh=e) for e in (1, 2, 3, 4))
    elsewhere = signed(BOB, slot=11)
    for s in (a, b, c, d, elsewhere):
        pool.add(s, 5)
    tx = "0x" + "ab" * 32
    left = {b.intent.id: "uncovered", c.intent.id: "expired", elsewhere.intent.id: "revoked"}
    for _ in range(2):  # idempotent
        pool.resolve(10, [a.intent.id], left, tx)
        by_id = {p.id: p for p in pool.of_owner(ALICE.address, 10, 10)}
        assert (by_id[a.intent.id].status, by_id[a.intent.id].reason) == ("included", None)
        assert by_id[a.intent.id].tx_hash == tx and by_id[a.intent.id].settled_slot == 10
        assert (by_id[b.intent.id].status, by_id[b.intent.id].reason) == ("left_out", "uncovered")
        assert (by_id[c.intent.id].status, by_id[c.intent.id].reason) == ("left_out", "expired")
        assert by_id[b.intent.id].tx_hash is None and by_id[b.intent.id].settled_slot == 10
        assert by_id[d.intent.id].status == "pending"  # named in neither: untouched
    assert pool.pending(10) == [d]
    # Another slot's intent is not changed by this slot's resolution.
    assert pool.of_owner(BOB.address, 0, 20)[0].status == "pending"
    # A left-out intent never demotes an included one; an inclusion wins over anything.
    pool.resolve(10, [], {a.intent.id: "uncovered"}, None)
    assert pool.get(a.intent.id).status == "included"  # type: ignore[union-attr]
    pool.resolve(10, [b.intent.id], {}, tx)
    assert pool.get(b.intent.id).status == "included"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        pool.resolve(10, [d.intent.id], {d.intent.id: "expired"}, tx)
    assert pool.get(d.intent.id).status == "pending"  # type: ignore[union-attr]


def test_resolve_of_many_intents(pool: IntentPool) -> None:
    """More ids than one IN (...) list takes (the pool does not check signatures)."""
    template = signed(ALICE)
    batch = [
        SignedIntent(Intent(ALICE.address, 10, "buy", e, 150_000, 0, 1), template.signature)
        for e in range(1, 1_101)
    ]
    for s in batch:
        pool.add(s, 0)
    ids = [s.intent.id for s in batch]
    pool.resolve(10, ids[:600], dict.fromkeys(ids[600:], "member_cap"), "0x" + "01" * 32)
    statuses = [p.status for p in pool.of_owner(ALICE.address, 10, 10)]
    assert statuses.count("included") == 600 and statuses.count("left_out") == 500


def test_withdraw_only_the_owners_own_pending_intent(pool: IntentPool) -> None:
    a, b = signed(ALICE), signed(ALICE, energy_wh=2)
    pool.add(a, 0)
    pool.add(b, 0)
    assert not pool.withdraw(a.intent.id, BOB.address)  # not Bob's
    assert not pool.withdraw(123, ALICE.address)  # no such intent
    assert pool.withdraw(a.intent.id, ALICE.address.lower())
    assert not pool.withdraw(a.intent.id, ALICE.address)  # no longer pending
    assert pool.pending(10) == [b]
    assert pool.get(a.intent.id).status == "withdrawn"  # type: ignore[union-attr]
    # The matcher's left-out does not hide the withdrawal; a settlement that carried it wins.
    pool.resolve(10, [], {a.intent.id: "revoked"}, None)
    assert pool.get(a.intent.id).status == "withdrawn"  # type: ignore[union-attr]
    pool.resolve(10, [b.intent.id], {}, "0x" + "cd" * 32)
    assert not pool.withdraw(b.intent.id, ALICE.address)  # included: too late


def test_of_owner_is_a_slot_range(pool: IntentPool) -> None:
    for slot in (5, 6, 7, 9):
        pool.add(signed(ALICE, slot=slot), slot)
    pool.add(signed(BOB, slot=6), 0)
    assert [p.intent.slot for p in pool.of_owner(ALICE.address, 6, 8)] == [6, 7]
    assert [p.intent.slot for p in pool.of_owner(ALICE.address, 0, 2**64 - 1)] == [5, 6, 7, 9]
    assert pool.of_owner(BOB.address, 7, 9) == []


def test_a_restart_loses_nothing(url: str) -> None:
    first = IntentPool(url)
    kept = [signed(ALICE, energy_wh=e) for e in range(1, 6)]
    for s in kept:
        first.add(s, 42)
    first.resolve(10, [kept[0].intent.id], {kept[1].intent.id: "uncovered"}, "0x" + "ee" * 32)
    first.withdraw(kept[2].intent.id, ALICE.address)
    before = first.of_owner(ALICE.address, 0, 100)
    first.close()
    again = IntentPool(url)  # the table exists: opened, not recreated
    try:
        assert again.of_owner(ALICE.address, 0, 100) == before
        assert again.pending(10) == sorted(kept[3:], key=lambda s: s.intent.id)
        assert not again.add(kept[0], 99)
    finally:
        again.close()


def test_the_sqlite_file_is_durable(tmp_path: Path) -> None:
    """Write-ahead log and synchronous=FULL, on every connection."""
    pool = IntentPool(f"sqlite:///{tmp_path / 'p.db'}")
    with pool.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    pool.add(signed(ALICE), 1)
    pool.close()
    # Another reader of the file (no SQLAlchemy) sees the committed row.
    with sqlite3.connect(tmp_path / "p.db") as raw:
        assert raw.execute("SELECT count(*) FROM intent_pool").fetchone() == (1,)


def test_two_pools_write_the_same_file_at_once(tmp_path: Path) -> None:
    """The API and the matcher are separate processes on one SQLite file: two pools on it,
    writing from two threads at once (the same intents too), lose and duplicate nothing."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    pools = [IntentPool(url), IntentPool(url)]
    intents = [signed(ALICE if k % 2 else BOB, energy_wh=k + 1) for k in range(120)]
    added: list[list[bool]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(k: int) -> None:
        try:
            start.wait()
            for n, s in enumerate(intents):
                added[k].append(pools[k].add(s, n))
                if n % 10 == 9:
                    pools[k].pending(10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    # Each intent was stored by exactly one of the two writers.
    assert [a or b for a, b in zip(*added, strict=True)] == [True] * len(intents)
    assert not any(a and b for a, b in zip(*added, strict=True))
    for p in pools:
        assert len(p.pending(10)) == len(intents)
        p.close()
