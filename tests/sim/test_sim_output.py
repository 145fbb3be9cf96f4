"""What `make demo` prints when its output is a log or a pipe: plain progress lines, and a summary
table that fits 80 columns."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from rich.console import Console

from sim.cli import _on_chain, plain_progress
from sim.community import load_community
from sim.offline import dry_run
from sim.profiles import community_profiles
from sim.report import summary_table

ROOT = Path(__file__).resolve().parents[2]


def test_plain_progress_every_few_slots_and_at_the_end() -> None:
    lines: list[str] = []
    ticks = iter(range(0, 1000, 3))  # the clock advances 3 s per reading
    step = plain_progress(lines.append, "default-20", clock=lambda: next(ticks))
    for done in range(1, 49):
        step(done, 48)
    step(48, 48)  # a repeated last call prints nothing new
    assert lines[:2] == ["default-20: 4/48 slots, 3 s", "default-20: 8/48 slots, 6 s"]
    assert lines[-1] == "default-20: 48/48 slots, 36 s"
    assert len(lines) == 12
    longer: list[str] = []
    step = plain_progress(longer.append, "x", clock=lambda: 0.0)
    for done in range(1, 289):  # six days: a line every 12 slots
        step(done, 288)
    assert len(longer) == 24 and longer[0] == "x: 12/288 slots, 0 s"


def test_no_terminal_gets_progress_lines() -> None:
    out = io.StringIO()
    console = Console(file=out)  # not a terminal, as under `make demo > log`
    assert not console.is_terminal
    community = load_community(ROOT / "communities" / "default-20.toml")

    def run(_deployments: Path, step: object) -> str:
        for done in range(1, 9):
            step(done, 8)  # type: ignore[operator]
        return "done"

    assert _on_chain(console, community, "dev", "gridshare-test-", run) == "done"
    assert out.getvalue().splitlines() == [
        "default-20: deploying on dev",
        "default-20: 4/8 slots, 0 s",
        "default-20: 8/8 slots, 0 s",
    ]


def test_summary_table_fits_80_columns() -> None:
    community = load_community(ROOT / "communities" / "default-20.toml")
    result = dry_run(community, community_profiles(community, 1), 1)
    wide, narrow = io.StringIO(), io.StringIO()
    Console(file=wide, width=200).print(summary_table(result))
    Console(file=narrow, width=80).print(summary_table(result))
    lines = [line.rstrip() for line in wide.getvalue().splitlines()]
    assert max(len(line) for line in lines) <= 80 - 8  # room for a longer run's numbers
    # Nothing is wrapped or cut at 80 columns: the same table as on a wide terminal.
    assert [line.rstrip() for line in narrow.getvalue().splitlines()] == lines
    assert lines[0] == "default-20: 20 households, 1 day(s), uniform clearing"
    assert lines[-2:] == [
        "bills in € (cost > 0: paid, < 0: earned)",
        "every household pays no more than BaU",
    ]


def _dry_make(target: str) -> str:
    """What `make TARGET` would run, everything out of date (-B), nothing executed (-n)."""
    done = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_make_demo_installs_no_system_package() -> None:
    demo = _dry_make("demo")
    assert "gridshare simulate --community communities/default-20.toml" in demo
    assert "apt-get" not in demo and "postgres" not in demo and "chromium" not in demo
    for target in ("demo-flex", "demo-slot"):
        assert "apt-get" not in _dry_make(target)
    setup = _dry_make("setup")  # what make test runs first: says so, then installs them
    assert "the tests also need PostgreSQL and Chromium" in setup
    assert "postgresql" in setup and "chromium" in setup and "apt-get install" in setup


MANIFEST = '{"network": "%s", "contracts": {"Settlement": "0x' + "00" * 19 + 'aa"}}\n'


def test_a_named_network_keeps_its_manifest_to_index(tmp_path: Path) -> None:
    from sim.chainrun import keep_deployment

    report, deployments = tmp_path / "reports" / "tiny", tmp_path / "deployments"
    text = MANIFEST % "sepolia-local"
    line = keep_deployment(text, "sepolia-local", deployments, report)
    assert (report / "deployment.json").read_text() == text
    assert (deployments / "sepolia-local.json").read_text() == text
    assert line is not None and str(deployments / "sepolia-local.json") in line
    assert f"GRIDSHARE_DEPLOYMENTS_DIR={deployments} gridshare index run" in line
    assert line.endswith("--network sepolia-local")


def test_the_dev_chain_manifest_goes_only_with_the_report(tmp_path: Path) -> None:
    from sim.chainrun import keep_deployment

    report, deployments = tmp_path / "report", tmp_path / "deployments"
    line = keep_deployment(MANIFEST % "gridshare-dev-40123", "dev", deployments, report)
    assert (report / "deployment.json").exists()
    assert not deployments.exists()
    assert line is not None and "gridshare-dev-40123 was a private chain" in line
    assert "index run" not in line
    assert keep_deployment(None, "dev", deployments, report / "dry") is None  # a dry run
