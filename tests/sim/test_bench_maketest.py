"""bench/maketest.py's reading of a `make test` log (pure)."""

from __future__ import annotations

from bench.maketest import passed_counts, step_times

LOG = """All checks passed!
======================= 267 passed in 300.10s (0:05:00) ========================
============================= 22 passed in 33.60s ==============================
807 passed in 446.03s (0:07:26)
3 failed, 64 passed, 2 skipped in 178.63s (0:02:58)
"""


def test_every_summary_line_counts_once_and_nothing_else() -> None:
    assert passed_counts(LOG) == [267, 22, 807, 64]


def test_each_timed_step_is_named_by_its_command_without_paths_or_quiet_flags() -> None:
    log = (
        "[time] 61.20 s make --no-print-directory lint\n"
        "ruff check .\n"
        "[time] 250.1 s .venv/bin/brownie test tests/contracts --network anvil\n"
        "[time] 400.5 s .venv/bin/python -m pytest -p no:pytest-brownie tests/sim -q\n"
    )
    assert step_times(log) == {
        "make lint": 61.2,
        "brownie test tests/contracts --network anvil": 250.1,
        "python pytest tests/sim": 400.5,
    }
