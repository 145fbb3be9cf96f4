"""How long `make test` takes in a fresh clone, as CI runs it: `make bench-make-test`
(`python -m bench.maketest --record`).

Clones the repository's HEAD into a temporary folder, runs `.ci/run` there with CI=true (which
calls exactly `make test`: set-up, lint, both test lanes), and records the wall time, the exit
code, the tests passed per pytest/brownie run and the machine's load average before and after
(the goal, 15 minutes, is for a quiet 2-core machine; the load says how quiet it was). The run's
log is kept in `reports/make-test.log`. `.ci/run` registers the clone's solc launcher with the
machine's py-solc-x folder; this repository's own is registered again afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import show_and_record

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "reports" / "make-test.log"
GOAL_S = 900
SUMMARY = re.compile(r"(\d+) passed\b.* in [\d.]+s")
STEP = re.compile(r"^\[time\] ([\d.]+) s (.*)$")  # the Makefile's TIMED lines
QUIET = {"--no-print-directory", "-p", "no:pytest-brownie", "-m", "-q"}


def passed_counts(log: str) -> list[int]:
    """The `N passed` of each pytest or brownie summary line in `log`, in order."""
    return [int(m.group(1)) for line in log.splitlines() if (m := SUMMARY.search(line))]


def step_times(log: str) -> dict[str, float]:
    """Each timed step of make test (the Makefile's `[time] S s COMMAND` lines), by its command
    without paths and quiet flags, in the order the steps ended."""
    steps: dict[str, float] = {}
    for line in log.splitlines():
        if m := STEP.match(line):
            program, *args = m.group(2).split()
            steps[" ".join([Path(program).name, *(a for a in args if a not in QUIET)])] = float(
                m.group(1)
            )
    return steps


def run(ref: str) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gridshare-make-test-") as tmp:
        clone = Path(tmp) / "gridshare"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", commit], cwd=clone, check=True)
        started = time.monotonic()
        done = subprocess.run(
            ["bash", ".ci/run"],
            cwd=clone,
            env={**os.environ, "CI": "true"},
            capture_output=True,
            text=True,
        )
        wall_s = time.monotonic() - started
    load_after = os.getloadavg()
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text(done.stdout + done.stderr)
    subprocess.run(
        [str(ROOT / "toolchain" / "register-solc.sh")],
        env={**os.environ, "GRIDSHARE_ROOT": str(ROOT)},
        capture_output=True,
        check=True,
    )
    counts = passed_counts(done.stdout + done.stderr)
    steps = {f"step_s: {cmd}": round(t) for cmd, t in step_times(done.stdout + done.stderr).items()}
    return {
        "commit": commit,
        f"make_test_s (fresh clone; goal <= {GOAL_S})": round(wall_s),
        "exit_code": done.returncode,
        "tests passed per run (in log order)": " + ".join(map(str, counts)) or "none",
        "tests_passed_total": sum(counts),
        "machine_load_average (1 / 5 / 15 min, before)": " / ".join(
            f"{x:.2f}" for x in load_before
        ),
        "machine_load_average (1 / 5 / 15 min, after)": " / ".join(f"{x:.2f}" for x in load_after),
        **steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to clone and test")
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    figures = run(args.ref)
    show_and_record(
        "test: make test in a fresh clone (issue 19)",
        "make bench-make-test  (python -m bench.maketest --record)",
        figures,
        NOTES,
        save=args.record,
    )
    print(f"log: {LOG}")
    raise SystemExit(0 if figures["exit_code"] == 0 else 1)


NOTES = """
A fresh clone of the commit named, `.ci/run` with CI=true (exactly `make test`: set-up (uv, or
pip, from the package index and the machine's caches), then the compile beside the lint and type
checks and Slither, then two lanes side by side: lane A the Python tests other than the sim's,
lane B the contract suite on anvil, its ganache smoke run and the sim tests).
Wall time from the start of `.ci/run` to its end; the clone itself is not timed. The machine is
the shared 2-core one; the load averages before and after say how much else ran beside it (the
goal is for a quiet machine). `step_s` figures: each timed step of the Makefile (TIMED, GNU time)
in the order the steps ended; the steps of a phase's two lanes overlap.
"""


if __name__ == "__main__":
    main()
