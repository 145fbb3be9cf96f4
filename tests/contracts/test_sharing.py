"""The `sharing` mode on a real chain: SharingSettlement allocates each slot's production by the
key from the committed readings and settles the money; every figure is compared member by member
with the pure rule (market.sharing.allocate, member ids in (chunk, address) order), and every
tamper case reverts with its named error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import pytest
from brownie import chain, web3
from eth_account import Account

from chain.metering import pack_reading_word
from chain.sharing import (
    SlotAllocation,
    TalliedChunk,
    allocate_slot,
    chunk_members,
    expected_rows,
    sharing_terms,
    tallied_chunks,
)
from chain.signing import Reading
from gridshare.settings import Settings
from market.calendar import hour_of_day
from market.sharing import Key, SharingTariff
from scripts.deploy import RoleAccounts, SharingDeployment, day_start, deploy_sharing
from tests.contracts.conftest import EUR, METER_KEYS
from tests.contracts.helpers import (
    reverts_exact,
    reverts_with,
    settled_events,
    sign_reading,
    sleep_until,
)

CONSUMER, PROSUMER = 1, 2
NAMES = ("alice", "bob", "carol", "dave", "erin")
ROLES = {"alice": PROSUMER, "bob": CONSUMER, "carol": PROSUMER, "dave": CONSUMER, "erin": CONSUMER}
SHARING_PRICE = 150_000
HORIZON = 2  # tariff (and sharing terms) notice, in slots: short, so tests need few empty slots
TERMS = {
    "bob": (60, 300_000),
    "carol": (80, 100_000),
    "dave": (100, 200_000),
    "erin": (100, 400_000),
}
"""(participation %, share ppm); Alice keeps the default 100 % and 0 ppm."""
SHORTAGE = {
    "alice": (0, 1001),
    "bob": (700, 0),
    "carol": (0, 250),
    "dave": (333, 0),
    "erin": (500, 0),
}
"""E = 1001 + 200 = 1201 < D = 420 + 333 + 500 = 1253: floors and leftovers on both sides."""
SURPLUS = {
    "alice": (0, 3000),
    "bob": (700, 0),
    "carol": (10, 250),
    "dave": (333, 0),
    "erin": (500, 7),
}


KeyName = Literal["dynamic", "static"]
Maker = Callable[..., "tuple[SharingRun, int]"]


class SharingRun:
    """Drives a sharing deployment's slots: readings relayed, then the tally (several chunks)
    and one settle per chunk, in slot order."""

    def __init__(self, dep: SharingDeployment, people: dict[str, Any], oracle: Any, matcher: Any):
        self.dep, self.people, self.oracle, self.matcher = dep, people, oracle, matcher
        self.words: dict[int, dict[int, list[int]]] = {}

    def meter(self, name: str) -> bytes:
        return (f"meter-{name}-{self.dep.community.address[:10]}").encode().ljust(32, b"\0")

    def deliver(self, slot: int) -> None:
        deadline = int(self.dep.sharing.readingDeadlineSeconds())
        sleep_until(int(self.dep.community.slotStart(slot + 1)) + deadline + 1)

    def submit(self, slot: int, flows: dict[str, tuple[int, int]]) -> None:
        signed = []
        for name, (imp, exp) in flows.items():
            r = Reading(self.meter(name), slot, imp, exp, slot + 1)
            signed.append((r, sign_reading(self.dep.readings, METER_KEYS[name], r)))
        tx = self.dep.readings.submitReadings(
            [r.as_tuple() for r, _ in signed], [s for _, s in signed], {"from": self.oracle}
        )
        for e in tx.events["ReadingAccepted"]:
            word = pack_reading_word(e["member"], e["importWh"], e["exportWh"])
            chunk = int(self.dep.community.chunkOf(e["member"]))
            self.words.setdefault(int(e["slot"]), {}).setdefault(chunk, []).append(word)

    def args(self, slot: int, chunk: int) -> tuple[list[str], list[int]]:
        words = self.words.get(slot, {}).get(chunk, [])
        return chunk_members(words), words

    def terms(self, slot: int) -> dict[str, tuple[int, int]]:
        """Each member with a reading in `slot`: its terms as the contract reads them."""
        terms: dict[str, tuple[int, int]] = {}
        for words in self.words.get(slot, {}).values():
            members = chunk_members(words)
            read = self.dep.community.sharingTermsOf(members, slot)
            for m, w in zip(members, read, strict=True):
                terms[m] = sharing_terms(int(w))
        return terms

    def allocation(self, slot: int) -> SlotAllocation:
        """`slot`'s allocation by the pure rule, with the members' terms as the contract reads
        them."""
        key = Key.DYNAMIC if int(self.dep.sharing.key()) == 0 else Key.STATIC
        return allocate_slot(self.words.get(slot, {}), self.terms(slot), key)

    def totals(self, slot: int) -> int:
        """The community totals the tally of `slot` must name (E | D << 64 | A << 128)."""
        return self.allocation(slot).totals()

    def tallied(self, slot: int) -> list[TalliedChunk]:
        """What the tally of a multi-chunk `slot` counted, chunk by chunk."""
        chunks = int(self.dep.sharing.chunksIn(slot))
        words = self.words.get(slot, {})
        return tallied_chunks(self.allocation(slot), words, self.terms(slot), chunks)

    def settle_tallied(self, slot: int, chunk: int, t: TalliedChunk) -> Any:
        args = (t.before, t.readings_hash, t.members, t.flows, t.rule)
        return self.dep.sharing.settleTallied(slot, chunk, *args, {"from": self.matcher})

    def tally(self, slot: int) -> list[Any]:
        s, txs = self.dep.sharing, []
        chunks = int(s.chunksIn(slot))
        if chunks > 1:
            totals = self.totals(slot)
            for c in range(chunks):
                txs.append(s.tally(slot, c, totals, *self.args(slot, c), {"from": self.matcher}))
        return txs

    def settle(self, slot: int) -> list[Any]:
        """Settle every slot up to `slot`; the txs of `slot`'s chunks."""
        s = self.dep.sharing
        txs: list[Any] = []
        for t in range(int(s.nextSlot()), slot + 1):
            self.tally(t)
            chunks = int(s.chunksIn(t))
            if chunks > 1:
                txs = [self.settle_tallied(t, c, x) for c, x in enumerate(self.tallied(t))]
            else:
                txs = [s.settle(t, 0, *self.args(t, 0), {"from": self.matcher})]
        return txs


@pytest.fixture(scope="module")
def make_sharing(
    dso: Any,
    oracle: Any,
    matcher: Any,
    supply_account: Any,
    roles: RoleAccounts,
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    erin: Any,
) -> Maker:
    """A sharing community (key, chunk size): five members with meters and 100 € each, the supply
    account with 1,000 €, TERMS scheduled with the notice; returns its runner and the first slot
    the terms apply to."""
    people = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}

    def _make(key: KeyName, chunk_size: int, period_slots: int = 1440) -> tuple[SharingRun, int]:
        base = Settings(
            chunk_members=chunk_size,
            order_horizon_slots=HORIZON,
            sharing_key=key,
            period_slots=period_slots,
        )
        settings = base.model_copy(
            update={"tariff": base.tariff.model_copy(update={"sharing_price": SHARING_PRICE})}
        )
        dep = deploy_sharing(settings, dso, roles, genesis=day_start(chain.time()) - 86_400)
        run = SharingRun(dep, people, oracle, matcher)
        tag = dep.token.address[:10]
        for name in NAMES:
            dep.community.registerMember(people[name], ROLES[name], 0, {"from": dso})
            signer = Account.from_key(METER_KEYS[name]).address
            dep.community.registerMeter(run.meter(name), people[name], signer, {"from": dso})
            dep.token.topUp(
                people[name], 100 * EUR, f"{tag}-{name}".encode().ljust(32, b"\0"), {"from": dso}
            )
        dep.token.topUp(
            supply_account, 1000 * EUR, f"{tag}-supply".encode().ljust(32, b"\0"), {"from": dso}
        )
        start = int(dep.community.currentSlot()) + HORIZON + 1
        for name, (pct, ppm) in TERMS.items():
            dep.community.scheduleSharingTerms(people[name], start, pct, ppm, {"from": dso})
        return run, start

    return _make


@pytest.fixture(scope="module")
def dynamic_one(make_sharing: Maker) -> tuple[SharingRun, int]:
    return make_sharing("dynamic", 256)


@pytest.fixture(autouse=True)
def _forget_words(request: Any) -> None:
    """Each test starts from the module's deployment (isolation): no reading recorded yet."""
    for name in ("dynamic_one", "static_one", "dynamic_chunked", "static_chunked"):
        if name in request.fixturenames:
            request.getfixturevalue(name)[0].words.clear()


@pytest.fixture(scope="module")
def static_one(make_sharing: Maker) -> tuple[SharingRun, int]:
    return make_sharing("static", 256)


@pytest.fixture(scope="module")
def dynamic_chunked(make_sharing: Maker) -> tuple[SharingRun, int]:
    return make_sharing("dynamic", 2)


@pytest.fixture(scope="module")
def static_chunked(make_sharing: Maker) -> tuple[SharingRun, int]:
    return make_sharing("static", 2)


def _tariff(dep: SharingDeployment, slot: int) -> SharingTariff:
    t = [int(v) for v in dep.community.tariffAt(slot)]
    return SharingTariff(
        sharing_price=t[9],
        retail_price=t[0],
        grid_fee=t[2],
        feed_in_price=t[1],
        p2p_grid_fee=t[3],
        trade_fee_buy=t[4],
        trade_fee_sell=t[5],
    )


def _check_slot(
    run: SharingRun,
    slot: int,
    flows: dict[str, tuple[int, int]],
    key: Key,
    terms_in_slot: dict[str, tuple[int, int]] = TERMS,
) -> None:
    """Settle `slot` with `flows` and compare every member's event with the pure rule (members'
    terms in the slot: `terms_in_slot`, default TERMS), then the money: token conservation, the
    fee and network accounts, the supply account netting out."""
    dep = run.dep
    people = run.people
    run.deliver(slot)
    run.submit(slot, flows)
    accounts = {
        "fee": dep.community.feeAccount(),
        "network": dep.community.networkAccount(),
        "supply": dep.community.supplyAccount(),
        **{n: people[n].address for n in NAMES},
    }
    before = {k: int(dep.token.balanceOf(a)) for k, a in accounts.items()}
    txs = run.settle(slot)
    after = {k: int(dep.token.balanceOf(a)) for k, a in accounts.items()}

    terms = {people[n].address: terms_in_slot.get(n, (100, 0)) for n in NAMES}
    tariff = _tariff(dep, slot)
    expected = expected_rows(run.words[slot], terms, key, tariff)
    events = [e for tx in txs for e in settled_events(tx, "SharingSettled")]
    assert len(events) == len(flows)
    for e in events:
        x = expected[e["member"]]
        got = (
            int(e["importWh"]),
            int(e["exportWh"]),
            int(e["participatingConsumptionWh"]),
            int(e["participatingProductionWh"]),
            int(e["allotmentWh"]),
            int(e["allocatedWh"]),
            int(e["creditedWh"]),
            int(e["charged"]),
            int(e["paid"]),
            int(e["bauCost"]),
        )
        want = (
            x.import_wh,
            x.export_wh,
            x.participating_consumption_wh,
            x.participating_production_wh,
            x.allotment_wh,
            x.allocated_wh,
            x.credited_wh,
            x.charged,
            x.paid,
            x.bau_cost,
        )
        assert got == want, e["member"]
        assert int(e["collected"]) == x.charged  # every member can pay here
    rows = expected.values()
    shared = sum(r.allocated_wh for r in rows)
    assert shared == sum(r.credited_wh for r in rows)
    assert sum(after.values()) == sum(before.values())  # tokens only move
    fees = sum(
        tariff.trade_fee_buy * r.allocated_wh + tariff.trade_fee_sell * r.credited_wh for r in rows
    )
    assert after["fee"] - before["fee"] == fees
    network = sum(
        tariff.p2p_grid_fee * r.allocated_wh
        + tariff.grid_fee * (r.import_wh - r.export_wh - r.allocated_wh)
        for r in rows
        if r.import_wh > r.export_wh
    )
    assert after["network"] - before["network"] == network
    grid_sold = sum(
        tariff.retail_price * (r.import_wh - r.export_wh - r.allocated_wh)
        for r in rows
        if r.import_wh > r.export_wh
    )
    feed_in = sum(
        tariff.feed_in_price * (r.export_wh - r.import_wh - r.credited_wh)
        for r in rows
        if r.export_wh >= r.import_wh
    )
    assert after["supply"] - before["supply"] == grid_sold - feed_in  # shared Wh net out
    period = slot // int(dep.sharing.periodSlots())
    assert int(dep.sharing.platformFeesOf(period)) >= fees
    assert int(dep.sharing.nextSlot()) == slot + 1


# ----------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("flows", [SHORTAGE, SURPLUS], ids=["shortage", "surplus"])
def test_dynamic_one_chunk_is_the_pure_rule(dynamic_one: Any, flows: Any) -> None:
    run, start = dynamic_one
    _check_slot(run, start, flows, Key.DYNAMIC)


@pytest.mark.parametrize("flows", [SHORTAGE, SURPLUS], ids=["shortage", "surplus"])
def test_static_one_chunk_is_the_pure_rule(static_one: Any, flows: Any) -> None:
    run, start = static_one
    _check_slot(run, start, flows, Key.STATIC)


@pytest.mark.parametrize("flows", [SHORTAGE, SURPLUS], ids=["shortage", "surplus"])
def test_dynamic_three_chunks_is_the_pure_rule(dynamic_chunked: Any, flows: Any) -> None:
    run, start = dynamic_chunked
    assert int(run.dep.sharing.chunksIn(start)) == 3
    _check_slot(run, start, flows, Key.DYNAMIC)


@pytest.mark.parametrize("flows", [SHORTAGE, SURPLUS], ids=["shortage", "surplus"])
def test_static_three_chunks_is_the_pure_rule(static_chunked: Any, flows: Any) -> None:
    run, start = static_chunked
    _check_slot(run, start, flows, Key.STATIC)


def test_two_slots_in_a_row_extend_each_chunks_digest_chain(dynamic_chunked: Any) -> None:
    run, start = dynamic_chunked
    _check_slot(run, start, SHORTAGE, Key.DYNAMIC)
    _check_slot(run, start + 1, SURPLUS, Key.DYNAMIC)
    for c in range(3):
        assert bytes(run.dep.sharing.digestAt(start + 1, c)) != b"\0" * 32


# ----------------------------------------------------------------------------------- tampering


def _ready(run: SharingRun, slot: int) -> None:
    """Settle the slots before `slot` (empty) and relay `slot`'s SHORTAGE readings."""
    run.deliver(slot)
    run.settle(slot - 1)
    run.submit(slot, SHORTAGE)


def test_forged_or_incomplete_words_revert(dynamic_one: Any, matcher: Any) -> None:
    run, slot = dynamic_one
    _ready(run, slot)
    s = run.dep.sharing
    members, words = run.args(slot, 0)
    forged = list(words)
    forged[1] += 1 << 160  # one more Wh imported
    with reverts_exact("SharingReadingsMismatch", slot, 0, 5, 5):
        s.settle(slot, 0, members, forged, {"from": matcher})
    with reverts_exact("SharingReadingsMismatch", slot, 0, 5, 4):
        s.settle(slot, 0, members, words[:-1], {"from": matcher})


def test_member_left_out_or_listed_without_reading_reverts(
    dynamic_one: Any, matcher: Any, bob: Any, outsider: Any
) -> None:
    run, slot = dynamic_one
    _ready(run, slot)
    s = run.dep.sharing
    members, words = run.args(slot, 0)
    with reverts_exact("SharingMemberMissing", bob.address):
        s.settle(slot, 0, [m for m in members if m != bob.address], words, {"from": matcher})
    extra = sorted([*members, outsider.address], key=lambda a: int(a, 16))
    with reverts_exact("SharingMemberWithoutReading", outsider.address):
        s.settle(slot, 0, extra, words, {"from": matcher})
    with reverts_exact("SharingMembersNotAscending", 1):
        s.settle(slot, 0, members[::-1], words, {"from": matcher})


def test_slots_settle_in_order_once_readings_are_in(
    dynamic_one: Any, matcher: Any, outsider: Any
) -> None:
    run, slot = dynamic_one
    s = run.dep.sharing
    first = int(s.nextSlot())
    deadline = int(run.dep.community.slotStart(first + 1)) + int(s.readingDeadlineSeconds())
    with reverts_exact("SharingReadingsPending", first, deadline):
        s.settle(first, 0, [], [], {"from": matcher})
    with reverts_exact("SharingNotMatcher", outsider.address):
        s.settle(first, 0, [], [], {"from": outsider})
    _ready(run, slot)
    members, words = run.args(slot, 0)
    with reverts_exact("SharingOutOfOrder", 0, slot, slot + 1):
        s.settle(slot + 1, 0, members, words, {"from": matcher})
    s.settle(slot, 0, members, words, {"from": matcher})
    with reverts_exact("SharingOutOfOrder", 0, slot + 1, slot):
        s.settle(slot, 0, members, words, {"from": matcher})
    with reverts_exact("SharingTallyNotNeeded", slot + 1):
        s.tally(slot + 1, 0, 0, [], [], {"from": matcher})


def test_several_chunks_need_the_whole_tally_in_chunk_order(
    dynamic_chunked: Any, matcher: Any
) -> None:
    run, slot = dynamic_chunked
    _ready(run, slot)
    s = run.dep.sharing
    args = [run.args(slot, c) for c in range(3)]
    totals = run.totals(slot)
    with reverts_exact("SharingTallyIncomplete", slot, 0):
        run.settle_tallied(slot, 0, run.tallied(slot)[0])
    with reverts_exact("SharingTallyOutOfOrder", slot, 0, 1):
        s.tally(slot, 1, totals, *args[1], {"from": matcher})
    with reverts_exact("SharingReadingsMismatch", slot, 0, len(args[0][1]), len(args[1][1])):
        s.tally(slot, 0, totals, *args[1], {"from": matcher})  # chunk 1's words for chunk 0
    for c in range(2):
        s.tally(slot, c, totals, *args[c], {"from": matcher})
    with reverts_exact("SharingTallyIncomplete", slot, 2):
        run.settle_tallied(slot, 0, run.tallied(slot)[0])  # two chunks of three counted
    with reverts_exact("SharingTallyTotalsChanged", slot, totals, totals + 1):
        s.tally(slot, 2, totals + 1, *args[2], {"from": matcher})
    s.tally(slot, 2, totals, *args[2], {"from": matcher})
    assert tuple(s.tallyOf(slot)) == (totals, 2, True)
    with reverts_exact("SharingTallyNotNeeded", slot):
        s.tally(slot, 0, totals, *args[0], {"from": matcher})
    with reverts_exact("SharingSettleFromTally", slot):
        s.settle(slot, 0, *args[0], {"from": matcher})  # the words again: not for several chunks
    tallied = run.tallied(slot)
    with reverts_exact("SharingTallyMismatch", slot, 2):
        run.settle_tallied(slot, 2, tallied[0])  # chunk 0's figures for chunk 2
    for c, x in enumerate(tallied[:2]):
        run.settle_tallied(slot, c, x)
    last = tallied[2]
    for forged in (
        replace(last, rule=[last.rule[0] + 1, *last.rule[1:]]),  # one more Wh of C or G
        replace(last, flows=[last.flows[0] + (1 << 96), *last.flows[1:]]),  # one more Wh out
        replace(last, before=last.before + 1),  # one more consumer before it
        replace(last, readings_hash=bytes(32)),
    ):
        with reverts_exact("SharingTallyMismatch", slot, 2):
            run.settle_tallied(slot, 2, forged)
    for c, x in list(enumerate(tallied))[2:]:
        run.settle_tallied(slot, c, x)
    assert int(s.nextSlot()) == slot + 1


@pytest.mark.parametrize(
    "wrong",
    [
        (1, 0, 0),  # E one Wh too many
        (0, -1, 0),  # D one Wh short
        (0, 0, 1),  # A one Wh too many
        (0, 0, 0, 1),  # a bit above the three totals
    ],
    ids=["production", "demand", "allocated", "high-bits"],
)
def test_a_tally_under_wrong_totals_is_refused_and_starts_again(
    dynamic_chunked: Any, matcher: Any, wrong: tuple[int, ...]
) -> None:
    """No chunk settles on totals that were not counted: the last chunk of a tally under wrong
    totals reverts with what was counted, and chunk 0 starts the tally again."""
    run, slot = dynamic_chunked
    _ready(run, slot)
    s = run.dep.sharing
    args = [run.args(slot, c) for c in range(3)]
    totals = run.totals(slot)
    bad = totals + sum(d << (64 * k) for k, d in enumerate(wrong))
    for c in range(2):
        s.tally(slot, c, bad, *args[c], {"from": matcher})
    with reverts_exact("SharingTallyTotalsMismatch", slot, bad, totals):
        s.tally(slot, 2, bad, *args[2], {"from": matcher})
    with reverts_exact("SharingTallyIncomplete", slot, 2):
        run.settle_tallied(slot, 0, run.tallied(slot)[0])
    run.settle(slot)  # the tally again from chunk 0, under the counted totals
    assert tuple(s.tallyOf(slot)) == (totals, 2, True)
    assert int(s.nextSlot()) == slot + 1


# ----------------------------------------------------------------------------------- terms


def test_sharing_terms_need_the_notice_and_valid_values(
    static_one: Any, dso: Any, alice: Any, bob: Any, outsider: Any
) -> None:
    run, start = static_one
    c = run.dep.community
    now = int(c.currentSlot())
    earliest = now + HORIZON + 1
    with reverts_exact("CommunitySharingTooEarly", now + HORIZON, earliest):
        c.scheduleSharingTerms(alice, now + HORIZON, 100, 0, {"from": dso})
    for pct in (0, 101):
        with reverts_exact("CommunitySharingInvalidParticipation", alice.address, pct):
            c.scheduleSharingTerms(alice, earliest, pct, 0, {"from": dso})
    with reverts_exact("CommunitySharingInvalidShare", alice.address, 1_000_001):
        c.scheduleSharingTerms(alice, earliest, 100, 1_000_001, {"from": dso})
    assert int(c.sharePpmTotal()) == 1_000_000
    with reverts_exact("CommunitySharingSharesExceed", alice.address, 1_000_001):
        c.scheduleSharingTerms(alice, earliest, 100, 1, {"from": dso})
    with reverts_exact("CommunityNotMember", outsider.address):
        c.scheduleSharingTerms(outsider, earliest, 100, 0, {"from": dso})
    with reverts_with("AccessControlUnauthorizedAccount"):
        c.scheduleSharingTerms(alice, earliest, 100, 0, {"from": outsider})
    # Terms apply from their slot on; before it the default (or earlier terms) hold.
    assert tuple(c.sharingTermsAt(bob, start - 1)) == (100, 0)
    assert tuple(c.sharingTermsAt(bob, start)) == (60, 300_000)
    assert tuple(c.sharingTermsAt(alice, start)) == (100, 0)


def test_a_change_in_force_blocks_the_next_until_a_notice_later(
    static_one: Any, dso: Any, bob: Any
) -> None:
    run, start = static_one
    c = run.dep.community
    sleep_until(int(c.slotStart(start)) + 1)
    now = int(c.currentSlot())
    with reverts_exact("CommunitySharingChangeTooSoon", bob.address, start, start + HORIZON):
        c.scheduleSharingTerms(bob, now + HORIZON + 1, 50, 100_000, {"from": dso})
    sleep_until(int(c.slotStart(start + HORIZON)) + 1)
    now = int(c.currentSlot())
    tx = c.scheduleSharingTerms(bob, now + HORIZON + 1, 50, 100_000, {"from": dso})
    assert tx.events["SharingTermsScheduled"]["participationPct"] == 50
    assert tuple(c.sharingTermsAt(bob, now)) == (60, 300_000)
    assert tuple(c.sharingTermsAt(bob, now + HORIZON + 1)) == (50, 100_000)
    assert int(c.sharePpmTotal()) == 1_000_000  # max(300,000, 100,000) still counted for Bob


# ------------------------------------------------------------------------------- hourly schedules

ERIN_HOURS = [(h * 37_000) % 400_001 for h in range(24)]
"""Erin's static share per hour of the day: at most her flat 400,000 ppm, so the other members'
600,000 leave room in every hour."""
ERIN_LATER = list(reversed(ERIN_HOURS))


def _hour(community: Any, slot: int) -> int:
    return hour_of_day(int(community.slotSeconds()), slot)


def test_an_hourly_schedule_gives_each_slot_the_share_of_its_hour(
    make_sharing: Maker, dso: Any, erin: Any
) -> None:
    """Erin's change at `start` (not yet in force) is replaced by an hourly schedule: each slot
    is allocated with the share of the hour of the day it starts in, member by member as the
    pure rule; each hour's share total counts her schedule."""
    run, start = make_sharing("static", 256)
    c = run.dep.community
    tx = c.scheduleSharingHours(erin, start, 90, ERIN_HOURS, {"from": dso})
    assert [int(v) for v in tx.events["SharingHoursScheduled"]["sharesPpm"]] == ERIN_HOURS
    assert [int(c.sharePpmTotalAt(h)) for h in range(24)] == [600_000 + s for s in ERIN_HOURS]
    assert int(c.sharePpmTotal()) == 600_000 + max(ERIN_HOURS)
    slots = [start, start + 1, start + 2, start + 3]
    hours = [_hour(c, slot) for slot in slots]
    assert len(set(hours)) > 1  # the slots span more than one hour
    for slot, hour in zip(slots, hours, strict=True):
        assert tuple(c.sharingTermsAt(erin, slot)) == (90, ERIN_HOURS[hour])
    assert tuple(c.sharingTermsAt(erin, start - 1)) == (100, 0)
    for slot, hour in zip(slots, hours, strict=True):
        terms = {**TERMS, "erin": (90, ERIN_HOURS[hour])}
        _check_slot(run, slot, SHORTAGE, Key.STATIC, terms)


def test_hourly_shares_are_checked_hour_by_hour(make_sharing: Maker, dso: Any, alice: Any) -> None:
    """A share above 1,000,000 in any hour is refused, and so is a schedule that takes one hour's
    total past 1,000,000 (the error gives that hour's total); one that fits every hour passes."""
    run, start = make_sharing("static", 256)
    c = run.dep.community
    hours = [0] * 24
    hours[7] = 1_000_001
    with reverts_exact("CommunitySharingInvalidShare", alice.address, 1_000_001):
        c.scheduleSharingHours(alice, start, 100, hours, {"from": dso})
    hours[7] = 1  # the others hold 1,000,000 in every hour
    with reverts_exact("CommunitySharingSharesExceed", alice.address, 1_000_001):
        c.scheduleSharingHours(alice, start, 100, hours, {"from": dso})
    hours[7] = 0
    c.scheduleSharingHours(alice, start, 100, hours, {"from": dso})
    assert tuple(c.sharingTermsAt(alice, start)) == (100, 0)


def test_a_leaver_frees_its_hourly_shares(make_sharing: Maker, dso: Any, erin: Any) -> None:
    """completeExit takes a leaver's claim off every hour's total and forgets its schedule."""
    run, start = make_sharing("static", 256)
    c = run.dep.community
    c.scheduleSharingHours(erin, start, 100, ERIN_HOURS, {"from": dso})
    c.grantRole(web3.keccak(text="MEMBERSHIP_ROLE"), dso, {"from": dso})  # as Membership does
    c.beginExit(erin, {"from": dso})
    c.completeExit(erin, {"from": dso})
    assert [int(c.sharePpmTotalAt(h)) for h in range(24)] == [600_000] * 24
    assert tuple(c.sharingTermsAt(erin, start)) == (100, 0)


def test_a_later_schedule_leaves_the_one_in_force_to_the_slots_before_it(
    make_sharing: Maker, dso: Any, erin: Any
) -> None:
    """Two hourly schedules in a row (the second a notice after the first is in force, written
    to the other bank): slots before the second read the first, slots from it the second; a
    flat change after that reads the second before it."""
    run, start = make_sharing("static", 256)
    c = run.dep.community
    c.scheduleSharingHours(erin, start, 100, ERIN_HOURS, {"from": dso})
    sleep_until(int(c.slotStart(start + HORIZON)) + 1)
    now = int(c.currentSlot())
    second = now + HORIZON + 1
    c.scheduleSharingHours(erin, second, 100, ERIN_LATER, {"from": dso})
    assert tuple(c.sharingTermsAt(erin, now)) == (100, ERIN_HOURS[_hour(c, now)])
    for slot in range(second, second + 3):
        assert tuple(c.sharingTermsAt(erin, slot)) == (100, ERIN_LATER[_hour(c, slot)])
    totals = [600_000 + max(a, b) for a, b in zip(ERIN_HOURS, ERIN_LATER, strict=True)]
    assert [int(c.sharePpmTotalAt(h)) for h in range(24)] == totals
    sleep_until(int(c.slotStart(second + HORIZON)) + 1)
    now = int(c.currentSlot())
    c.scheduleSharingTerms(erin, now + HORIZON + 1, 100, 5, {"from": dso})
    assert tuple(c.sharingTermsAt(erin, now)) == (100, ERIN_LATER[_hour(c, now)])
    assert tuple(c.sharingTermsAt(erin, now + HORIZON + 1)) == (100, 5)
    totals = [600_000 + max(b, 5) for b in ERIN_LATER]
    assert [int(c.sharePpmTotalAt(h)) for h in range(24)] == totals


# ----------------------------------------------------------------------------------- period close


def test_profit_sharing_closes_a_sharing_period_from_its_ledger(
    make_sharing: Maker, dso: Any, fee_account: Any
) -> None:
    """ProfitSharing reads SharingSettlement's per-period ledger (IPeriodLedger) unchanged."""
    run, start = make_sharing("dynamic", 2, 4)
    run.words.clear()
    dep, s = run.dep, run.dep.sharing
    _check_slot(run, start, SHORTAGE, Key.DYNAMIC)
    period = start // 4
    end = (period + 1) * 4
    run.deliver(end - 1)
    run.settle(end - 1)  # the period's other slots, without readings
    assert int(s.nextSlot()) == end
    exports = {n: int(s.exportOf(period, run.people[n])) for n in NAMES}
    assert exports == {n: SHORTAGE[n][1] for n in NAMES}
    assert int(s.totalExportOf(period)) == sum(exports.values())
    fees = int(s.platformFeesOf(period))
    assert fees > 0
    members = sorted((run.people[n].address for n in NAMES), key=lambda a: int(a, 16))
    billed: dict[str, int] = {}
    for k in range(0, len(members), 2):  # chunks of `chunk_members` (2)
        tx = dep.profit_sharing.closePeriod(period, members[k : k + 2], {"from": dso})
        billed |= {e["member"]: int(e["exportWh"]) for e in tx.events["PeriodBilled"]}
    assert dep.profit_sharing.periodClosed(period)
    assert billed == {run.people[n].address: exports[n] for n in NAMES}


def test_a_member_who_cannot_pay_in_full_owes_the_rest(dynamic_one: Any, bob: Any) -> None:
    """Members who can pay are debited in one settleNet call; one who cannot is charged creditor
    by creditor (EnergyToken.collect) and owes the shortfall; tokens are conserved either way."""
    run, slot = dynamic_one
    dep = run.dep
    balance = int(dep.token.balanceOf(bob))
    dep.token.redeem(balance - 1_000, b"bob-out".ljust(32, b"\0"), {"from": bob})
    run.deliver(slot)
    run.settle(slot - 1)
    run.submit(slot, SHORTAGE)
    supply = dep.token.totalSupply()
    (tx,) = run.settle(slot)
    rows = {e["member"]: e for e in settled_events(tx, "SharingSettled")}
    charged, collected = int(rows[bob.address]["charged"]), int(rows[bob.address]["collected"])
    assert collected == 1_000 < charged
    assert int(dep.token.debtOf(bob)) == charged - collected
    assert int(dep.token.balanceOf(bob)) == 0
    assert dep.token.totalSupply() == supply
    assert int(dep.token.balanceOf(dep.sharing)) == 0
    others = [e for m, e in rows.items() if m != bob.address and int(e["charged"])]
    assert others and all(int(e["collected"]) == int(e["charged"]) for e in others)
