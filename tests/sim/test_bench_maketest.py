"""bench/maketest.py's reading of a `make test` log (pure)."""

from __future__ import annotations

from bench.maketest import passed_counts

LOG = """All checks passed!
======================= 267 passed in 300.10s (0:05:00) ========================
============================= 22 passed in 33.60s ==============================
807 passed in 446.03s (0:07:26)
3 failed, 64 passed, 2 skipped in 178.63s (0:02:58)
"""


def test_every_summary_line_counts_once_and_nothing_else() -> None:
    assert passed_counts(LOG) == [267, 22, 807, 64]
