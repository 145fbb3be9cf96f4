"""The import layers of pyproject.toml ([tool.importlinter], docs/map.md) hold on the tree, and
each kind of break is caught: lint-imports runs on a copy of the Python sources with one import
added that a contract forbids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _python_only(folder: str, names: list[str]) -> set[str]:
    return {
        n
        for n in names
        if n == "__pycache__" or (not n.endswith(".py") and not (Path(folder) / n).is_dir())
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python sources of every package the contracts name, and pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    root = tmp_path_factory.mktemp("layers")
    for package in config["tool"]["importlinter"]["root_packages"]:
        shutil.copytree(ROOT / package, root / package, ignore=_python_only)
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True
    )


def test_the_tree_keeps_every_layer(tree: Path) -> None:
    done = lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("market/units.py", "import chain.node", "market.units -> chain.node"),
        ("market/tariff.py", "import sqlalchemy", "market.tariff -> sqlalchemy"),
        ("chain/node.py", "import matcher.service", "chain.node -> matcher.service"),
        ("api/view.py", "import matcher.intents", "api.view -> matcher.intents"),
        ("sim/report.py", "import web3", "sim.report -> web3"),
        ("oracle/relay.py", "import oracle.meter.signing", "oracle.relay -> oracle.meter.signing"),
        ("indexer/schema.py", "import audit.model", "indexer.schema -> audit.model"),
        ("sim/report.py", "import api.view", "sim.report -> api.view"),
        ("storage/engine.py", "import chain.codec", "storage.engine -> chain.codec"),
        ("gridshare/settings.py", "import gridshare.cli", "gridshare.settings -> gridshare.cli"),
        ("gridshare/wiring.py", "import gridshare.cli", "gridshare.wiring -> gridshare.cli"),
        ("api/main.py", "import gridshare.wiring", "api.main -> gridshare.wiring"),
        ("gridshare/wiring.py", "import oracle.meter", "gridshare.wiring -> oracle.meter"),
        ("gridshare/cli/oracle.py", "import oracle.meter", "gridshare.cli.oracle -> oracle.meter"),
        ("bench/report.py", "import tests.fixtures", "bench.report -> tests.fixtures"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tree: Path, module: str, line: str, broken: str
) -> None:
    path = tree / module
    source = path.read_text()
    path.write_text(source + f"\n{line}  # noqa\n")
    try:
        done = lint(tree)
    finally:
        path.write_text(source)
    assert done.returncode == 1, done.stdout
    assert broken in done.stdout
