"""docs/map.md names only what exists: every path it cites, and every `file::name` it cites as
a function, class, constant or Solidity function of that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "map.md"
# A backticked path: a file with an extension or a folder ending in /, optionally ::name.
CITED = re.compile(r"`((?:[\w.-]+/)+(?:[\w.-]+\.\w+)?)(?:::(\w+))?`")


def citations(text: str) -> list[tuple[str, str | None]]:
    return [(path, name or None) for path, name in CITED.findall(text)]


def defines(source: str, name: str) -> bool:
    """Whether `source` defines `name`: a Python def, class or module constant, or a Solidity
    function, contract, library, struct or enum."""
    pattern = (
        rf"^\s*(?:(?:async\s+)?def|class|function|contract|library|struct|enum)\s+{name}\b"
        rf"|^{name}\s*[:=]"
    )
    return re.search(pattern, source, re.M) is not None


def test_the_map_cites_enough_to_be_a_map() -> None:
    cited = citations(MAP.read_text())
    assert len(cited) > 100
    assert sum(1 for _, name in cited if name) > 40


@pytest.mark.parametrize(("path", "name"), sorted(set(citations(MAP.read_text())), key=str))
def test_each_cited_path_and_name_exists(path: str, name: str | None) -> None:
    target = ROOT / path
    assert target.exists(), f"docs/map.md cites {path}, which does not exist"
    if name is not None:
        assert defines(target.read_text(), name), f"docs/map.md cites {path}::{name}"


def test_a_missing_path_or_name_is_found() -> None:
    text = "`market/nowhere.py`, `market/clearing.py::no_such_rule`, `market/clearing.py::clear`"
    cited = citations(text)
    assert cited == [
        ("market/nowhere.py", None),
        ("market/clearing.py", "no_such_rule"),
        ("market/clearing.py", "clear"),
    ]
    assert not (ROOT / "market/nowhere.py").exists()
    source = (ROOT / "market/clearing.py").read_text()
    assert not defines(source, "no_such_rule")
    assert defines(source, "clear")
