"""README.md is one page of truth: its contract table names every contract in contracts/*.sol
once, the counts it gives are what scripts/deploy.py deploys, no row or paragraph is repeated,
its links stay inside the repository and exist, and the newcomer's path comes first."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
NUMBERS |= {"nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


def top_level_contracts() -> set[str]:
    """The deployable contracts of contracts/*.sol (not interfaces, libraries or test helpers)."""
    found = set()
    for path in (ROOT / "contracts").glob("*.sol"):
        found |= set(re.findall(r"^(?:abstract\s+)?contract\s+(\w+)", path.read_text(), re.M))
    return found


def contract_table(text: str) -> list[str]:
    """The first column of the table under the '### Contracts' heading, in order."""
    section = text.split("\n### Contracts", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", section, re.M)


def deployed(function: str) -> set[str]:
    """The contracts `scripts/deploy.py`'s `function` deploys: its own `X.deploy(` calls and the
    community and token every deployment gets (`_community`)."""
    source = (ROOT / "scripts" / "deploy.py").read_text()
    body = source.split(f"\ndef {function}(", 1)[1].split("\ndef ", 1)[0]
    return set(re.findall(r"\b(\w+)\.deploy\(", body)) | {"Community", "EnergyToken"}


def test_the_contract_table_names_every_contract_once() -> None:
    rows = contract_table(README)
    assert len(rows) == len(set(rows)), Counter(rows).most_common(3)
    assert set(rows) == top_level_contracts()


def test_the_counts_it_gives_are_what_the_deploy_script_deploys() -> None:
    trading, sharing = deployed("deploy"), deployed("deploy_sharing")
    assert trading | sharing == top_level_contracts()
    said = re.search(
        r"deploys and wires the (\w+) contracts of a trading community \((\w+) of a sharing",
        README.replace("\n", " "),
    )
    assert said is not None
    assert (NUMBERS[said.group(1)], NUMBERS[said.group(2)]) == (len(trading), len(sharing))
    # Under the table: the first rows are the trading community's, then the sharing one's list.
    below = re.search(
        r"A trading community deploys the first (\w+); a sharing one deploys ([^(]+)\(", README
    )
    assert below is not None
    first = NUMBERS[below.group(1)]
    assert set(contract_table(README)[:first]) == trading
    assert set(re.findall(r"`(\w+)`", below.group(2))) == sharing


def test_no_row_or_paragraph_is_repeated() -> None:
    lines = [
        line.strip()
        for line in README.splitlines()
        if line.strip() and not re.fullmatch(r"\|[-|: ]+\||```\w*", line.strip())
    ]
    repeated = [line for line, n in Counter(lines).items() if n > 1]
    assert not repeated, repeated
    paragraphs = [p.strip() for p in README.split("\n\n") if p.strip()]
    assert not [p[:80] for p, n in Counter(paragraphs).items() if n > 1]


def test_links_stay_inside_the_repository() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert links  # it does link the docs
    for link in links:
        assert not re.match(r"\w+:", link), f"{link} leaves the repository"
        assert (ROOT / link.split("#")[0]).exists(), f"{link} does not exist"


def test_the_newcomers_path_comes_first() -> None:
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[0] == "Start here"
    start = README.split("## Start here", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make ([\w-]+)", start.split("```sh", 1)[1], re.M)
    assert commands[0] == "dashboard", commands
