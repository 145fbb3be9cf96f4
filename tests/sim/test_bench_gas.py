"""The gas benchmarks' own code (bench/gas.py, bench/gas_flex.py) at a few members on private
anvils: the runs `make bench-gas` and `make bench-gas-flex` make, short, through the gateway and
the matcher service, and what their figures say about the contracts."""

from __future__ import annotations

from bench import gas, gas_flex
from gridshare.settings import load_settings


def per_member(figure: str) -> tuple[int, int]:
    """A figure like "1,234 (56)" as (1234, 56)."""
    total, part = figure.split(" (")
    return int(total.replace(",", "")), int(part.rstrip(")").replace(",", ""))


def test_order_book_and_metered_gas_run_end_to_end() -> None:
    figures = gas.run(load_settings(), "anvil", [2, 6], metered=4)
    # A relayed order pays the signature check and the nonce on top of the direct path.
    assert figures["gas_per_order_placed_relayed_buy"] > figures["gas_per_order_placed_direct_buy"]
    funded, empty = (
        int(v.replace(",", ""))
        for v in figures["erc20_transfer_gas (baseline, to a funded / empty account)"].split(" / ")
    )
    assert empty - funded > 15_000  # a fresh balance word
    # Settlement grows with the members carried, from a fixed cost of an empty slot.
    small = int(figures["settle_tx_gas_2_uniform (volume Wh)"].split(" ")[0].replace(",", ""))
    large = int(figures["settle_tx_gas_6_uniform (volume Wh)"].split(" ")[0].replace(",", ""))
    assert figures["settle_tx_gas_empty_slot"] < small < large
    for mode in ("pay-as-bid", "community"):
        assert figures[f"gas_per_member_slot_trades_settled_6_{mode}"] > 0
    steady, first = (
        int(v.replace(",", ""))
        for v in figures["gas_per_reading_4_batched (steady / a meter's first reading)"].split(
            " / "
        )
    )
    assert first > steady  # a meter's first reading creates its replay word
    parts = (
        figures["gas_per_member_slot_imbalance_4"],
        figures["gas_per_member_slot_trades_4_in_metered_run"],
        steady,
    )
    assert all(p > 0 for p in parts)
    total = figures["gas_per_member_slot_settled_4 (trades + reading + imbalance + fees)"]
    assert sum(parts) - 3 <= total <= sum(parts) + 3  # each part rounded down apart


def test_flexibility_gas_runs_end_to_end() -> None:
    figures = gas_flex.run(load_settings(), "anvil", members=6, offers=2)
    imbalance, each = per_member(figures["settleImbalances_gas_6_members (one slot; per member)"])
    assert imbalance // 6 == each > 0
    assert int(figures["settleRequest_gas_2_accepted_6_readings"].replace(",", "")) > 0
    # A relayed offer pays the signature check, the nonce and the intent's calldata.
    assert figures["offerWithSig_gas_relayed (mean)"] > figures["offer_gas_direct (mean)"]
