"""The DSO congestion scenario (sim/flex.py) on the pure rulebook: the evening peak is bought down
to the transformer limit in merit order, and every payment is the rulebook's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market.flexibility import Direction, settle_offer
from sim.community import load_community
from sim.flex import FlexParams, run_congestion, write_flex_report
from sim.profiles import community_profiles

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default20() -> tuple[object, object]:
    community = load_community(ROOT / "communities" / "default-20.toml")
    return community, community_profiles(community, 6)


def test_peak_is_bought_down_in_merit_order(
    default20: tuple[object, object], tmp_path: Path
) -> None:
    community, profiles = default20
    limit = 1_500
    result = run_congestion(community, profiles, 6, FlexParams(limit_wh=limit))  # type: ignore[arg-type]
    assert result.peak_before_wh > limit and result.slots_over_before > 0
    assert result.peak_after_wh <= limit and result.slots_over_after == 0
    assert result.requests and all(r.accepted_wh == r.quantity_wh for r in result.requests)
    for r in result.requests:
        assert r.quantity_wh == r.net_import_before - limit
        assert r.net_import_after <= limit
    # The DSO pays exactly what the members earn; nobody earns for more than it delivered.
    assert result.dso_paid == sum(m.earned for m in result.members) > 0
    assert result.dso_penalties == sum(m.penalties for m in result.members)
    for m in result.members:
        assert 0 <= m.delivered_wh <= m.accepted_wh <= m.offered_wh
    # Merit order: the cheapest offer (the community battery, 0.10 €/kWh) is taken first.
    battery = next(m for m in result.members if m.role == "battery")
    assert battery.accepted_wh > 0
    path = write_flex_report(result, tmp_path)
    data = json.loads(path.read_text())
    assert data["dso_paid"] == result.dso_paid and (tmp_path / "flex-peak.png").exists()


def test_households_respond_when_the_battery_costs_more(default20: tuple[object, object]) -> None:
    community, profiles = default20
    params = FlexParams(limit_wh=1_500, community_battery_price=240_000, max_price=250_000)
    result = run_congestion(community, profiles, 6, params)  # type: ignore[arg-type]
    earners = [m for m in result.members if m.earned]
    assert any(m.role != "battery" for m in earners)
    # A household is paid price x delivered against its own baseline (the rulebook's).
    for m in earners:
        price = {
            "battery": params.community_battery_price,
            "prosumager": params.home_battery_price,
        }.get(m.role, params.load_price)
        assert m.earned == price * m.delivered_wh
        assert m.penalties == params.penalty * (m.accepted_wh - m.delivered_wh)


def test_baseline_rule_is_the_rulebook() -> None:
    out = settle_offer(Direction.REDUCE_IMPORT, 500, 100_000, 100_000, 200, [900, 800, 700])
    assert (out.baseline_wh, out.delivered_wh, out.payment) == (800, 500, 50_000_000)


def test_needs_history() -> None:
    community = load_community(ROOT / "tests" / "sim" / "tiny.toml")
    with pytest.raises(ValueError, match="at least 2 days"):
        run_congestion(community, community_profiles(community, 1), 1)
