"""Pure helpers for SharingSettlement (contracts/SharingSettlement.sol): the arguments of a
(slot, chunk) and what the contract must emit, computed with the rulebook's `market.sharing`.

The rule hands leftover Wh out in ascending member id; on-chain the member id is the order
(chunk, address), so `expected_rows` numbers the members in that order and the pure rule
allocates the whole community at once, with ids the ranks in that order. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from chain.metering import readings_hash, word_flows, word_member
from market.sharing import Allocation, Key, SharingMember, SharingTariff, allocate, member_money

SHARING_KEY_CODES: dict[Key, int] = {Key.DYNAMIC: 0, Key.STATIC: 1}
"""contracts/lib/MarketTypes.sol `SharingKey`."""
_ROW_TYPES = ["bytes32", "address", *["uint256"] * 10, "int256"]
_DIGEST_TYPES = ["bytes32", "uint64", "uint32", "uint8", *["uint256"] * 3, "bytes32", "bytes32"]


def member_order(chunk: int, member: str) -> tuple[int, int]:
    """The on-chain order of members for the rule's "ascending member id": chunk, then address.
    The rule's ids are the ranks in this order (0, 1, ...)."""
    return (chunk, int(member, 16))


def chunk_members(words: Sequence[int]) -> list[str]:
    """The members with a reading among a (slot, chunk)'s words, ascending by address (the
    `members` argument of `tally` and `settle`)."""
    return sorted({word_member(w) for w in words}, key=lambda a: int(a, 16))


@dataclass(frozen=True, slots=True)
class SharingRow:
    """What SharingSettled carries for one member (all but `collected`, which depends on the
    member's balance)."""

    member: str
    import_wh: int
    export_wh: int
    participating_consumption_wh: int
    participating_production_wh: int
    allotment_wh: int
    allocated_wh: int
    credited_wh: int
    charged: int
    paid: int
    bau_cost: int


@dataclass(frozen=True, slots=True)
class SlotAllocation:
    """A slot's allocation by the pure rule, with the members behind its ids (ranks in the
    on-chain order) and each member's metered (import, export)."""

    allocation: Allocation
    members: dict[int, str]
    flows: dict[str, tuple[int, int]]

    def totals(self) -> int:
        """The community totals E | D << 64 | A << 128 (Wh), as the tally of a multi-chunk slot
        names them (SharingSettlement.tally)."""
        a = self.allocation
        return pack_totals(a.community_production_wh, a.community_demand_wh, a.allocated_wh)


def allocate_slot(
    words_by_chunk: Mapping[int, Sequence[int]], terms: Mapping[str, tuple[int, int]], key: Key
) -> SlotAllocation:
    """A slot's allocation by the pure rule; arguments as `expected_rows`'."""
    flows: dict[str, tuple[int, int]] = {}
    order: dict[tuple[int, int], str] = {}
    for chunk, words in words_by_chunk.items():
        for w in words:
            member = word_member(w)
            imp, exp = flows.get(member, (0, 0))
            more_imp, more_exp = word_flows(w)
            flows[member] = (imp + more_imp, exp + more_exp)
            order[member_order(chunk, member)] = member
    ids = dict(enumerate(order[k] for k in sorted(order)))
    members = []
    for mid, member in ids.items():
        pct, ppm = terms.get(member, (100, 0))
        imp, exp = flows[member]
        members.append(SharingMember(mid, exp - imp, pct, ppm if key is Key.STATIC else None))
    return SlotAllocation(allocate(members, key), ids, flows)


def pack_totals(production_wh: int, demand_wh: int, allocated_wh: int) -> int:
    """E | D << 64 | A << 128: the tally's totals word (each total below 2**64)."""
    if not all(0 <= x < 1 << 64 for x in (production_wh, demand_wh, allocated_wh)):
        raise ValueError("community totals must lie in 0..2**64-1 Wh")
    return production_wh | demand_wh << 64 | allocated_wh << 128


@dataclass(frozen=True, slots=True)
class TalliedChunk:
    """What the tally of a multi-chunk slot counted for one chunk, as SharingSettlement packs it
    (`settleTallied`'s arguments after the slot and chunk): the consumers | producers << 32 of
    the chunks before it, the readings commitment, the members ascending and per member
    `flows` = import | export << 96 and `rule` = C | G << 96 | share << 192."""

    before: int
    readings_hash: bytes
    members: list[str]
    flows: list[int]
    rule: list[int]


def tallied_chunks(
    slot: SlotAllocation,
    words_by_chunk: Mapping[int, Sequence[int]],
    terms: Mapping[str, tuple[int, int]],
    chunks: int,
) -> list[TalliedChunk]:
    """Each of a slot's `chunks` chunks as its tally counts it: the members' flows, and their
    C_i and G_i, from the slot's allocation by the rule (`allocate_slot` over the same words and
    terms); the share from `terms` (each member with a reading: (participation %, share ppm) as
    Community.sharingTermsOf gives them in the slot, whatever the key)."""
    shared = {
        slot.members[r.id]: (r.participating_consumption_wh, r.participating_production_wh)
        for r in slot.allocation.members()
    }
    out: list[TalliedChunk] = []
    consumers = producers = 0
    for chunk in range(chunks):
        words = words_by_chunk.get(chunk, [])
        members = chunk_members(words)
        flows = [slot.flows[m][0] | slot.flows[m][1] << 96 for m in members]
        rule = [shared[m][0] | shared[m][1] << 96 | terms[m][1] << 192 for m in members]
        out.append(
            TalliedChunk(consumers | producers << 32, readings_hash(words), members, flows, rule)
        )
        consumers += sum(1 for m in members if shared[m][0])
        producers += sum(1 for m in members if shared[m][1])
    return out


def sharing_terms(word: int) -> tuple[int, int]:
    """A member's sharing terms as Community.sharingTermsOf packs them (participation % |
    share ppm << 8): (participation %, share ppm)."""
    return word & 0xFF, word >> 8


def expected_rows(
    words_by_chunk: Mapping[int, Sequence[int]],
    terms: Mapping[str, tuple[int, int]],
    key: Key,
    tariff: SharingTariff,
) -> dict[str, SharingRow]:
    """Every member's row of a slot, by the pure rule: `words_by_chunk` maps each chunk to its
    reading words, `terms` each member to (participation %, share ppm) (missing: 100 %, 0 ppm)."""
    slot = allocate_slot(words_by_chunk, terms, key)
    allocation, ids, flows = slot.allocation, slot.members, slot.flows
    out: dict[str, SharingRow] = {}
    for row in allocation.members():
        member = ids[row.id]
        money = member_money(tariff, row)
        imp, exp = flows[member]
        charged = (
            money.shared_energy_cost
            + money.grid_energy_cost
            + money.platform_fees
            + money.network_charges
            if row.consumption_wh
            else 0
        )
        paid = (
            money.shared_energy_revenue + money.feed_in_revenue - money.platform_fees
            if not row.consumption_wh
            else 0
        )
        out[member] = SharingRow(
            member,
            imp,
            exp,
            row.participating_consumption_wh,
            row.participating_production_wh,
            row.allotment_wh,
            row.allocated_wh,
            row.credited_wh,
            charged,
            paid,
            money.bau_cost,
        )
    return out


def rows_link(previous: bytes, member: str, figures: Sequence[int]) -> bytes:
    """One step of a (slot, chunk)'s rows hash: keccak256(abi.encode(h, member, row)), `figures`
    SharingSettled's eleven data words in order (the last, bauCost, signed)."""
    return keccak(encode(_ROW_TYPES, [previous, member, *figures]))


def sharing_digest(
    previous: bytes,
    slot: int,
    chunk: int,
    key: Key,
    totals: tuple[int, int, int],
    readings: bytes,
    rows: bytes,
) -> bytes:
    """A (slot, chunk)'s link in its digest chain (ISharingSettlement): the previous slot's
    link, the slot, the chunk, the key, the community totals (E, D, A), the readings
    commitment and the rows hash."""
    return keccak(
        encode(
            _DIGEST_TYPES,
            [previous, slot, chunk, SHARING_KEY_CODES[key], *totals, readings, rows],
        )
    )
