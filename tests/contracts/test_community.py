"""Unit tests of Community: members, meters, tariff schedule, slot calendar, DSO accounts."""

from __future__ import annotations

from typing import Any

import pytest
from brownie import Community, accounts, chain, web3
from brownie.exceptions import VirtualMachineError
from hexbytes import HexBytes

from chain.codec import encode_rules
from tests.contracts.helpers import reverts_exact, reverts_with

ZERO = "0x" + "00" * 20
ZERO32 = b"\0" * 32
NONE, CONSUMER, PROSUMER, PROSUMAGER, BATTERY = range(5)
HORIZON = 96


# ------------------------------------------------------------------------------------ helpers


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _b32(value: Any) -> bytes:
    return bytes(HexBytes(value))


def _align(community: Any, into: int = 60) -> int:
    """Move chain time to `into` seconds after the start of the next slot; return that slot.

    Tests that compare against currentSlot() then have most of a slot before it changes."""
    slot = int(community.currentSlot()) + 1
    chain.mine(timestamp=int(community.slotStart(slot)) + into)
    assert community.currentSlot() == slot
    return slot


def _tariff(base: tuple[int, ...], **changes: int) -> tuple[int, ...]:
    fields = [
        "retail",
        "feed_in",
        "grid_fee",
        "p2p_grid_fee",
        "fee_buy",
        "fee_sell",
        "community",
        "service",
        "mode",
        "sharing",
    ]
    values = dict(zip(fields, base, strict=True))
    for key, value in changes.items():
        assert key in values, key
        values[key] = value
    return tuple(values[f] for f in fields)


@pytest.fixture(scope="module")
def base_tariff(settings: Any) -> tuple[int, ...]:
    return encode_rules(settings.tariff.rules())


@pytest.fixture(scope="module")
def newcomers() -> list[Any]:
    """Unlocked accounts that are not members (nor hold any role)."""
    return [accounts[i] for i in range(10, 15)]


# ------------------------------------------------------------------------------------ roles


def test_roles_wired_by_deployment(
    community: Any,
    dso: Any,
    oracle: Any,
    matcher: Any,
    outsider: Any,
    fee_account: Any,
    network_account: Any,
) -> None:
    assert _b32(community.DSO_ROLE()) == bytes(web3.keccak(text="DSO_ROLE"))
    assert _b32(community.ORACLE_ROLE()) == bytes(web3.keccak(text="ORACLE_ROLE"))
    assert _b32(community.MATCHER_ROLE()) == bytes(web3.keccak(text="MATCHER_ROLE"))
    assert community.hasRole(ZERO32, dso)
    assert community.hasRole(community.DSO_ROLE(), dso)
    assert community.hasRole(community.ORACLE_ROLE(), oracle)
    assert community.hasRole(community.MATCHER_ROLE(), matcher)
    assert not community.hasRole(community.DSO_ROLE(), outsider)
    assert not community.hasRole(community.ORACLE_ROLE(), matcher)
    assert community.feeAccount() == fee_account
    assert community.networkAccount() == network_account
    assert community.memberCount() == 0


# ------------------------------------------------------------------------------------ members


def test_register_member(community: Any, dso: Any, newcomers: list[Any]) -> None:
    a, b = newcomers[0], newcomers[1]
    count = int(community.memberCount())
    now = _align(community)
    tx = community.registerMember(a, PROSUMER, 1440, {"from": dso})
    event = tx.events["MemberRegistered"]
    assert event["member"] == a
    assert event["role"] == PROSUMER
    assert event["joinedSlot"] == now
    assert event["lockInUntilSlot"] == now + 1440
    assert _ints(community.memberInfo(a))[:3] == (PROSUMER, now, now + 1440)
    assert community.memberRole(a) == PROSUMER
    assert community.memberCount() == count + 1

    tx = community.registerMember(b, CONSUMER, 0, {"from": dso})
    assert tx.events["MemberRegistered"]["lockInUntilSlot"] == now
    assert _ints(community.memberInfo(b))[:3] == (CONSUMER, now, now)
    assert community.memberCount() == count + 2
    assert community.memberRole(newcomers[2]) == NONE
    assert _ints(community.memberInfo(newcomers[2]))[:3] == (NONE, 0, 0)


@pytest.mark.parametrize("role", [CONSUMER, PROSUMER, PROSUMAGER, BATTERY])
def test_register_every_role(community: Any, dso: Any, newcomers: list[Any], role: int) -> None:
    community.registerMember(newcomers[0], role, 10, {"from": dso})
    assert community.memberRole(newcomers[0]) == role


def test_register_member_errors(
    community: Any, dso: Any, outsider: Any, newcomers: list[Any]
) -> None:
    a = newcomers[0]
    count = int(community.memberCount())
    with reverts_exact("CommunityZeroAddress"):
        community.registerMember(ZERO, CONSUMER, 0, {"from": dso})
    with reverts_exact("CommunityInvalidRole", NONE):
        community.registerMember(a, NONE, 0, {"from": dso})
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(community.DSO_ROLE())):
        community.registerMember(a, CONSUMER, 0, {"from": outsider})
    assert community.memberCount() == count
    assert community.memberRole(a) == NONE

    community.registerMember(a, CONSUMER, 0, {"from": dso})
    with reverts_exact("CommunityAlreadyMember", a):
        community.registerMember(a, PROSUMER, 0, {"from": dso})
    assert community.memberRole(a) == CONSUMER
    assert community.memberCount() == count + 1


def test_register_member_role_out_of_enum_range(
    community: Any, dso: Any, newcomers: list[Any]
) -> None:
    count = int(community.memberCount())
    with pytest.raises(VirtualMachineError):  # the ABI decoder rejects an undefined enum value
        community.registerMember(newcomers[0], 5, 0, {"from": dso})
    assert community.memberCount() == count
    assert community.memberRole(newcomers[0]) == NONE


def test_dso_role_can_be_delegated(
    community: Any, dso: Any, outsider: Any, newcomers: list[Any]
) -> None:
    role = community.DSO_ROLE()
    count = int(community.memberCount())
    community.grantRole(role, outsider, {"from": dso})
    community.registerMember(newcomers[0], PROSUMER, 0, {"from": outsider})
    assert community.memberCount() == count + 1
    community.revokeRole(role, outsider, {"from": dso})
    with reverts_with("AccessControlUnauthorizedAccount"):
        community.registerMember(newcomers[1], PROSUMER, 0, {"from": outsider})
    assert community.memberCount() == count + 1


def test_set_member_role(community: Any, dso: Any, newcomers: list[Any]) -> None:
    a = newcomers[0]
    community.registerMember(a, CONSUMER, 100, {"from": dso})
    _role, joined, lock_in, _exiting, _exit_slot = community.memberInfo(a)
    tx = community.setMemberRole(a, PROSUMAGER, {"from": dso})
    event = tx.events["MemberRoleChanged"]
    assert event["member"] == a
    assert event["role"] == PROSUMAGER
    assert _ints(community.memberInfo(a))[:3] == (PROSUMAGER, joined, lock_in)


def test_set_member_role_errors(
    community: Any, dso: Any, outsider: Any, newcomers: list[Any]
) -> None:
    a, stranger = newcomers[0], newcomers[1]
    community.registerMember(a, CONSUMER, 0, {"from": dso})
    with reverts_exact("CommunityInvalidRole", NONE):
        community.setMemberRole(a, NONE, {"from": dso})
    with reverts_exact("CommunityNotMember", stranger):
        community.setMemberRole(stranger, PROSUMER, {"from": dso})
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(community.DSO_ROLE())):
        community.setMemberRole(a, PROSUMER, {"from": outsider})
    # A member cannot promote itself either.
    with reverts_with("AccessControlUnauthorizedAccount"):
        community.setMemberRole(a, PROSUMER, {"from": a})
    assert community.memberRole(a) == CONSUMER
    assert community.memberRole(stranger) == NONE


# ------------------------------------------------------------------------------------ meters


def test_register_and_retire_meter(
    community: Any, dso: Any, newcomers: list[Any], ref: Any
) -> None:
    member, signer = newcomers[0], newcomers[3]
    meter_id = ref("meter-001")
    community.registerMember(member, PROSUMER, 0, {"from": dso})
    assert community.meter(meter_id)[:2] == (ZERO, ZERO)

    tx = community.registerMeter(meter_id, member, signer, {"from": dso})
    event = tx.events["MeterRegistered"]
    assert _b32(event["meterId"]) == meter_id
    assert event["member"] == member
    assert event["signer"] == signer
    assert community.meter(meter_id)[:2] == (member, signer)

    # A member may have several meters.
    community.registerMeter(ref("meter-002"), member, member, {"from": dso})
    assert community.meter(ref("meter-002"))[:2] == (member, member)

    tx = community.retireMeter(meter_id, {"from": dso})
    event = tx.events["MeterRetired"]
    assert _b32(event["meterId"]) == meter_id
    assert event["member"] == member
    assert community.meter(meter_id)[:2] == (ZERO, ZERO)
    assert community.meter(ref("meter-002"))[:2] == (member, member)

    # A retired id may be registered again (e.g. the meter is re-installed elsewhere).
    community.registerMember(newcomers[1], CONSUMER, 0, {"from": dso})
    community.registerMeter(meter_id, newcomers[1], signer, {"from": dso})
    assert community.meter(meter_id)[:2] == (newcomers[1], signer)


def test_register_meter_errors(
    community: Any, dso: Any, outsider: Any, newcomers: list[Any], ref: Any
) -> None:
    member, stranger, signer = newcomers[0], newcomers[1], newcomers[3]
    meter_id = ref("meter-err")
    community.registerMember(member, PROSUMER, 0, {"from": dso})
    with reverts_exact("CommunityZeroAddress"):
        community.registerMeter(meter_id, member, ZERO, {"from": dso})
    with reverts_exact("CommunityNotMember", stranger):
        community.registerMeter(meter_id, stranger, signer, {"from": dso})
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(community.DSO_ROLE())):
        community.registerMeter(meter_id, member, signer, {"from": outsider})
    assert community.meter(meter_id)[:2] == (ZERO, ZERO)

    community.registerMeter(meter_id, member, signer, {"from": dso})
    with reverts_exact("CommunityMeterExists", meter_id):
        community.registerMeter(meter_id, member, member, {"from": dso})
    assert community.meter(meter_id)[:2] == (member, signer)


def test_retire_meter_errors(
    community: Any, dso: Any, outsider: Any, newcomers: list[Any], ref: Any
) -> None:
    member = newcomers[0]
    meter_id = ref("meter-ret")
    with reverts_exact("CommunityUnknownMeter", meter_id):
        community.retireMeter(meter_id, {"from": dso})
    community.registerMember(member, PROSUMER, 0, {"from": dso})
    community.registerMeter(meter_id, member, member, {"from": dso})
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(community.DSO_ROLE())):
        community.retireMeter(meter_id, {"from": outsider})
    assert community.meter(meter_id)[:2] == (member, member)
    community.retireMeter(meter_id, {"from": dso})
    with reverts_exact("CommunityUnknownMeter", meter_id):
        community.retireMeter(meter_id, {"from": dso})


# ------------------------------------------------------------------------------------ tariffs


def test_initial_tariff(community: Any, base_tariff: tuple[int, ...]) -> None:
    assert base_tariff == (
        200_000,
        70_000,
        100_000,
        40_000,
        5_000,
        5_000,
        190_000,
        2 * 10**9,
        0,
        190_000,
    )
    assert community.tariffCount() == 1
    from_slot, tariff = community.tariffEntry(0)
    assert from_slot == 0
    assert tuple(tariff) == base_tariff
    assert tuple(community.tariffAt(0)) == base_tariff
    now = int(community.currentSlot())
    assert tuple(community.tariffAt(now)) == base_tariff
    assert tuple(community.tariffAt(2**64 - 1)) == base_tariff


def test_schedule_tariff_too_early(community: Any, dso: Any, base_tariff: tuple[int, ...]) -> None:
    now = _align(community)
    new = _tariff(base_tariff, retail=210_000)
    earliest = now + HORIZON + 1
    for from_slot in (0, now, now + 1, now + HORIZON):
        with reverts_exact("CommunityTariffTooEarly", from_slot, earliest):
            community.scheduleTariff(from_slot, new, {"from": dso})
    assert community.tariffCount() == 1


def test_schedule_tariff_after_horizon(
    community: Any, dso: Any, base_tariff: tuple[int, ...]
) -> None:
    now = _align(community)
    new = _tariff(base_tariff, retail=210_000, grid_fee=110_000, mode=2)
    from_slot = now + HORIZON + 1
    tx = community.scheduleTariff(from_slot, new, {"from": dso})
    event = tx.events["TariffScheduled"]
    assert event["fromSlot"] == from_slot
    assert tuple(event["tariff"]) == new
    assert "TariffWithdrawn" not in tx.events
    assert community.tariffCount() == 2
    entry_slot, entry = community.tariffEntry(1)
    assert (entry_slot, tuple(entry)) == (from_slot, new)
    # Old tariff before fromSlot (every slot an order may exist for), new one from it on.
    assert tuple(community.tariffAt(now)) == base_tariff
    assert tuple(community.tariffAt(from_slot - 1)) == base_tariff
    assert tuple(community.tariffAt(from_slot)) == new
    assert tuple(community.tariffAt(from_slot + 1000)) == new


def test_schedule_tariff_only_dso(
    community: Any, dso: Any, outsider: Any, oracle: Any, base_tariff: tuple[int, ...]
) -> None:
    now = _align(community)
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(community.DSO_ROLE())):
        community.scheduleTariff(now + 200, base_tariff, {"from": outsider})
    with reverts_with("AccessControlUnauthorizedAccount"):
        community.scheduleTariff(now + 200, base_tariff, {"from": oracle})
    assert community.tariffCount() == 1


def test_tariff_schedule_of_several_entries(
    community: Any, dso: Any, base_tariff: tuple[int, ...]
) -> None:
    now = _align(community)
    t1 = _tariff(base_tariff, retail=210_000)
    t2 = _tariff(base_tariff, retail=220_000)
    s1, s2 = now + 100, now + 150
    community.scheduleTariff(s1, t1, {"from": dso})
    community.scheduleTariff(s2, t2, {"from": dso})
    assert community.tariffCount() == 3
    assert tuple(community.tariffAt(s1 - 1)) == base_tariff
    assert tuple(community.tariffAt(s1)) == t1
    assert tuple(community.tariffAt(s2 - 1)) == t1
    assert tuple(community.tariffAt(s2)) == t2
    assert tuple(community.tariffAt(s2 + 10_000)) == t2


def test_reschedule_withdraws_later_entries(
    community: Any, dso: Any, base_tariff: tuple[int, ...]
) -> None:
    now = _align(community)
    t1 = _tariff(base_tariff, retail=210_000)
    t2 = _tariff(base_tariff, retail=220_000)
    t3 = _tariff(base_tariff, retail=230_000)
    t4 = _tariff(base_tariff, retail=240_000)
    community.scheduleTariff(now + 100, t1, {"from": dso})
    community.scheduleTariff(now + 120, t2, {"from": dso})

    # An entry between the two withdraws only the later one.
    tx = community.scheduleTariff(now + 110, t3, {"from": dso})
    withdrawn = tx.events["TariffWithdrawn"]
    assert len(withdrawn) == 1
    assert withdrawn[0]["fromSlot"] == now + 120
    assert tx.events["TariffScheduled"]["fromSlot"] == now + 110
    assert community.tariffCount() == 3
    assert [community.tariffEntry(i)[0] for i in range(3)] == [0, now + 100, now + 110]
    assert tuple(community.tariffAt(now + 130)) == t3
    assert tuple(community.tariffAt(now + 105)) == t1

    # The same fromSlot as an existing entry replaces it (and anything after it).
    tx = community.scheduleTariff(now + 100, t4, {"from": dso})
    assert [e["fromSlot"] for e in tx.events["TariffWithdrawn"]] == [now + 110, now + 100]
    assert community.tariffCount() == 2
    assert community.tariffEntry(1)[0] == now + 100
    assert tuple(community.tariffEntry(1)[1]) == t4
    assert tuple(community.tariffAt(now + 99)) == base_tariff
    assert tuple(community.tariffAt(now + 130)) == t4

    # The initial entry (slot 0) is never withdrawn.
    tx = community.scheduleTariff(now + 97, base_tariff, {"from": dso})
    assert [e["fromSlot"] for e in tx.events["TariffWithdrawn"]] == [now + 100]
    assert community.tariffCount() == 2
    assert community.tariffEntry(0)[0] == 0


def test_scheduled_tariff_becomes_binding(
    community: Any, dso: Any, base_tariff: tuple[int, ...]
) -> None:
    now = _align(community)
    t1 = _tariff(base_tariff, retail=210_000)
    community.scheduleTariff(now + HORIZON + 1, t1, {"from": dso})
    # Two slots later the entry lies within the order horizon: it can no longer be withdrawn.
    chain.mine(timestamp=int(community.slotStart(now + 2)) + 60)
    assert community.currentSlot() == now + 2
    with reverts_exact("CommunityTariffTooEarly", now + HORIZON + 1, now + 2 + HORIZON + 1):
        community.scheduleTariff(now + HORIZON + 1, base_tariff, {"from": dso})
    with reverts_with("CommunityTariffTooEarly"):
        community.scheduleTariff(now + HORIZON + 2, base_tariff, {"from": dso})
    assert community.tariffCount() == 2
    assert tuple(community.tariffAt(now + HORIZON + 1)) == t1


VALID_EDGES = {
    "feed_in_equals_retail": {"feed_in": 200_000, "community": 200_000, "sharing": 200_000},
    "sharing_equals_feed_in": {"sharing": 70_000},
    "sharing_equals_retail": {"sharing": 200_000},
    "community_equals_feed_in": {"community": 70_000},
    "community_equals_retail": {"community": 200_000},
    "fee_sell_equals_feed_in": {"fee_sell": 70_000},
    "fees_zero": {"fee_buy": 0, "fee_sell": 0, "grid_fee": 0, "p2p_grid_fee": 0},
    "prices_just_below_cap": {
        "retail": 2**40 - 1,
        "grid_fee": 2**40 - 1,
        "p2p_grid_fee": 2**40 - 1,
        "fee_buy": 2**40 - 1,
    },
}

INVALID = {
    "feed_in_zero": (1, {"feed_in": 0, "fee_sell": 0, "community": 0}),
    "feed_in_above_retail": (1, {"feed_in": 200_001}),
    "community_below_feed_in": (2, {"community": 69_999}),
    "community_above_retail": (2, {"community": 200_001}),
    "fee_sell_above_feed_in": (3, {"fee_sell": 70_001}),
    "retail_at_cap": (4, {"retail": 2**40}),
    "grid_fee_at_cap": (4, {"grid_fee": 2**40}),
    "p2p_grid_fee_at_cap": (4, {"p2p_grid_fee": 2**40}),
    "fee_buy_at_cap": (4, {"fee_buy": 2**40}),
    "sharing_below_feed_in": (5, {"sharing": 69_999}),
    "sharing_above_retail": (5, {"sharing": 200_001}),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_tariff_codes(
    community: Any, dso: Any, base_tariff: tuple[int, ...], case: str
) -> None:
    code, changes = INVALID[case]
    now = _align(community)
    with reverts_exact("CommunityInvalidTariff", code):
        community.scheduleTariff(now + 200, _tariff(base_tariff, **changes), {"from": dso})
    assert community.tariffCount() == 1


def test_valid_tariff_edges(community: Any, dso: Any, base_tariff: tuple[int, ...]) -> None:
    now = _align(community)
    for i, name in enumerate(sorted(VALID_EDGES)):
        tariff = _tariff(base_tariff, **VALID_EDGES[name])
        community.scheduleTariff(now + 200 + i, tariff, {"from": dso})
        assert tuple(community.tariffAt(now + 200 + i)) == tariff, name
    assert community.tariffCount() == 1 + len(VALID_EDGES)


def test_constructor_rejects_invalid_tariff(
    dso: Any, fee_account: Any, network_account: Any, base_tariff: tuple[int, ...]
) -> None:
    bad = _tariff(base_tariff, community=300_000)
    with reverts_exact("CommunityInvalidTariff", 2):
        Community.deploy(
            dso, 10**9, 1800, 300, 96, bad, fee_account, network_account, 256, {"from": dso}
        )


# ------------------------------------------------------------------------------------ calendar


def test_calendar_arithmetic(community: Any, settings: Any) -> None:
    genesis = int(community.genesis())
    assert community.slotSeconds() == 1800 == settings.slot_seconds
    assert community.gateClosureSeconds() == 300 == settings.gate_closure_seconds
    assert community.orderHorizonSlots() == HORIZON == settings.order_horizon_slots
    assert genesis % 86_400 == 0  # midnight UTC (the fixture puts genesis a day back)
    for slot in (0, 1, 47, 48, 1000, 2**40):
        assert community.slotStart(slot) == genesis + slot * 1800
        assert community.gateClosure(slot) == genesis + slot * 1800 - 300
    now = _align(community, into=600)
    assert now == (chain[-1].timestamp - genesis) // 1800
    assert now >= 48  # genesis is at least a day back


def test_current_slot_boundaries(community: Any) -> None:
    now = int(community.currentSlot()) + 1  # a slot that starts at least one slot from now
    start = int(community.slotStart(now + 1))
    chain.mine(timestamp=start - 1)
    assert community.currentSlot() == now
    chain.mine(timestamp=start)
    assert community.currentSlot() == now + 1
    chain.mine(timestamp=start + 1799)
    assert community.currentSlot() == now + 1
    chain.mine(timestamp=start + 1800)
    assert community.currentSlot() == now + 2


def test_current_slot_before_genesis(
    dso: Any, fee_account: Any, network_account: Any, base_tariff: tuple[int, ...]
) -> None:
    genesis = chain.time() + 10 * 86_400
    future = Community.deploy(
        dso, genesis, 1800, 300, 96, base_tariff, fee_account, network_account, 256, {"from": dso}
    )
    assert future.currentSlot() == 0
    assert future.gateClosure(0) == genesis - 300
    assert future.slotStart(0) == genesis


@pytest.mark.parametrize(
    "slot_seconds,gate,horizon,error",
    [
        (0, 300, 96, "CommunityInvalidCalendar"),
        (1800, 300, 0, "CommunityInvalidCalendar"),
        (1800, 10**12, 96, "CommunityInvalidCalendar"),  # genesis must exceed the gate lead
    ],
)
def test_constructor_rejects_invalid_calendar(
    dso: Any,
    fee_account: Any,
    network_account: Any,
    base_tariff: tuple[int, ...],
    slot_seconds: int,
    gate: int,
    horizon: int,
    error: str,
) -> None:
    with reverts_exact(error):
        Community.deploy(
            dso,
            10**9,
            slot_seconds,
            gate,
            horizon,
            base_tariff,
            fee_account,
            network_account,
            256,
            {"from": dso},
        )


def test_constructor_rejects_zero_addresses(
    dso: Any, fee_account: Any, network_account: Any, base_tariff: tuple[int, ...]
) -> None:
    for admin, fee, net in (
        (ZERO, fee_account, network_account),
        (dso, ZERO, network_account),
        (dso, fee_account, ZERO),
    ):
        with reverts_exact("CommunityZeroAddress"):
            Community.deploy(admin, 10**9, 1800, 300, 96, base_tariff, fee, net, 256, {"from": dso})


def test_fifteen_minute_community(
    dso: Any,
    outsider: Any,
    fee_account: Any,
    network_account: Any,
    base_tariff: tuple[int, ...],
    newcomers: list[Any],
) -> None:
    genesis = chain.time() - chain.time() % 86_400 - 86_400
    quarter = Community.deploy(
        dso, genesis, 900, 300, 96, base_tariff, fee_account, network_account, 256, {"from": dso}
    )
    tx = quarter.tx
    assert tx.events["TariffScheduled"]["fromSlot"] == 0
    assert tx.events["DsoAccountsSet"]["feeAccount"] == fee_account
    assert quarter.slotSeconds() == 900
    assert quarter.genesis() == genesis
    for slot in (0, 1, 4, 96, 97):
        assert quarter.slotStart(slot) == genesis + slot * 900
        assert quarter.gateClosure(slot) == genesis + slot * 900 - 300

    # Calendar: slot boundaries every 900 s.
    assert quarter.currentSlot() >= 96  # a day back at 96 slots a day
    now = int(quarter.currentSlot()) + 1  # starts at least one slot from now
    start = int(quarter.slotStart(now + 1))
    chain.mine(timestamp=start - 1)
    assert quarter.currentSlot() == now
    chain.mine(timestamp=start + 60)
    assert quarter.currentSlot() == now + 1
    chain.mine(timestamp=start + 900)
    now = now + 2
    assert quarter.currentSlot() == now
    assert now == (chain[-1].timestamp - genesis) // 900

    # Members and tariffs work the same way.
    tx = quarter.registerMember(newcomers[0], PROSUMER, 4 * 24, {"from": dso})
    assert tx.events["MemberRegistered"]["joinedSlot"] == now
    assert _ints(quarter.memberInfo(newcomers[0])) == (PROSUMER, now, now + 96, 0, 0)
    new = _tariff(base_tariff, retail=250_000)
    with reverts_exact("CommunityTariffTooEarly", now + 96, now + 97):
        quarter.scheduleTariff(now + 96, new, {"from": dso})
    quarter.scheduleTariff(now + 97, new, {"from": dso})
    assert tuple(quarter.tariffAt(now + 96)) == base_tariff
    assert tuple(quarter.tariffAt(now + 97)) == new
    with reverts_with("AccessControlUnauthorizedAccount"):
        quarter.registerMember(newcomers[1], PROSUMER, 0, {"from": outsider})


# ------------------------------------------------------------------------------------ DSO accounts


def test_set_dso_accounts(community: Any, dso: Any, newcomers: list[Any]) -> None:
    fee, net = newcomers[3], newcomers[4]
    tx = community.setDsoAccounts(fee, net, {"from": dso})
    event = tx.events["DsoAccountsSet"]
    assert event["feeAccount"] == fee
    assert event["networkAccount"] == net
    assert community.feeAccount() == fee
    assert community.networkAccount() == net


def test_set_dso_accounts_admin_only(
    community: Any, dso: Any, outsider: Any, fee_account: Any, network_account: Any
) -> None:
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, ZERO32):
        community.setDsoAccounts(outsider, outsider, {"from": outsider})
    # DSO_ROLE alone is not enough: this is an admin action.
    community.grantRole(community.DSO_ROLE(), outsider, {"from": dso})
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, ZERO32):
        community.setDsoAccounts(outsider, outsider, {"from": outsider})
    with reverts_exact("CommunityZeroAddress"):
        community.setDsoAccounts(ZERO, network_account, {"from": dso})
    with reverts_exact("CommunityZeroAddress"):
        community.setDsoAccounts(fee_account, ZERO, {"from": dso})
    assert community.feeAccount() == fee_account
    assert community.networkAccount() == network_account


# Last on purpose: the module-scoped `members` fixture, once set up, stays for later tests.
def test_members_fixture(community: Any, members: dict[str, Any]) -> None:
    assert community.memberCount() == 5
    assert community.memberRole(members["alice"]) == PROSUMER
    assert community.memberRole(members["bob"]) == CONSUMER
    assert community.memberRole(members["erin"]) == CONSUMER
