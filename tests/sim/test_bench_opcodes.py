"""The opcode profiler (bench/opcodes.py) on a real anvil with step tracing: three members, two
rounds of two slots; and its two summaries on hand-made traces."""

from __future__ import annotations

import pytest

from bench import opcodes


def test_a_short_profile_names_every_settling_transaction_and_its_calls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    opcodes.main(["--members", "3", "--slots", "2", "--top", "40"])
    out = capsys.readouterr().out
    sections = {head.split("\n")[0]: head for head in out.split("=== ")[1:] if head.strip()}
    names = {key.split(".")[0] for key in sections}
    assert {"Settlement", "MeterReadings", "ImbalanceSettlement"} <= names
    (settle,) = [body for key, body in sections.items() if key == "Settlement.settleSlot"]
    # Three intents, each signature recovered by the ecrecover precompile (address 1).
    assert "call precompile 1" in settle and " x3 " in settle.split("call precompile 1")[1]
    assert "depth 1 SSTORE" in settle
    (imbalance,) = [b for k, b in sections.items() if k == "ImbalanceSettlement.settleImbalances"]
    assert "call EnergyToken:" in imbalance


def test_instructions_sum_by_depth_without_calls_and_calls_by_callee() -> None:
    steps = {
        "structLogs": [
            {"op": "SSTORE", "depth": 1, "gasCost": 5000},
            {"op": "CALL", "depth": 1, "gasCost": 30000},
            {"op": "SLOAD", "depth": 2, "gasCost": 2100},
            {"op": "SLOAD", "depth": 3, "gasCost": 100},
            {"op": "SSTORE", "depth": 1, "gasCost": 2900},
        ]
    }
    assert opcodes.by_instruction(steps) == {(1, "SSTORE"): 7900, (2, "SLOAD"): 2200}
    calls = {
        "calls": [
            {
                "to": "0x0000000000000000000000000000000000000001",
                "input": "0xab",
                "gasUsed": "0xbb8",
            },
            {
                "to": "0x00000000000000000000000000000000000a11ce",
                "input": "0x12345678ff",
                "gasUsed": "0x10",
            },
            {
                "to": "0x00000000000000000000000000000000000a11ce",
                "input": "0x12345678ee",
                "gasUsed": "0x20",
            },
        ]
    }
    count, gas = opcodes.by_call(calls, {0xA11CE: "Token"})
    assert count == {"precompile 1": 1, "Token:0x12345678": 2}
    assert gas == {"precompile 1": 3000, "Token:0x12345678": 0x30}
