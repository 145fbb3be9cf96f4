"""`gridshare allocate`: golden slots for both keys, and bad input rejected with exit code 2 and
exactly one line on stderr (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridshare.cli import app
from market.sharing import Key, SharingInputError
from market.sharing_io import parse_sharing, parse_sharing_text

GOLDEN = Path(__file__).parent / "golden"
GRIDSHARE = Path(sys.executable).parent / "gridshare"


def run(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(GRIDSHARE), "allocate", *args],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], start: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert stderr.startswith(f"error: {start}"), stderr


@pytest.mark.parametrize("name", ["sharing_dynamic", "sharing_static"])
def test_golden(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    result = run("-", stdin=json.dumps(golden["input"]))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.decode() == json.dumps(golden["output"], indent=2) + "\n"


def test_golden_inputs_use_both_keys_and_match_the_hand_examples() -> None:
    dynamic = json.loads((GOLDEN / "sharing_dynamic.json").read_text())
    static = json.loads((GOLDEN / "sharing_static.json").read_text())
    assert (dynamic["input"]["key"], static["input"]["key"]) == ("dynamic", "static")
    # The worked examples of test_market_sharing.py, plus one idle and one partial member.
    assert [dynamic["output"]["members"][i]["allocated_wh"] for i in "123"] == [57, 28, 17]
    assert [static["output"]["members"][i]["credited_wh"] for i in "345"] == [39, 16, 0]


def test_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "slot.json"
    path.write_text(json.dumps({"members": [{"id": 1, "net_export_wh": -5}]}))
    result = run(str(path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["community_demand_wh"] == 5  # the key defaults to dynamic
    assert out["members"]["1"]["allotment_wh"] == 0


def _member(**changes: Any) -> dict[str, Any]:
    return {"id": 7, "net_export_wh": -10, **changes}


def _slot(*members: object, **fields: Any) -> str:
    return json.dumps({"key": "dynamic", "members": list(members), **fields})


def _static(*members: object) -> str:
    return json.dumps({"key": "static", "members": list(members)})


INVALID = [
    # shares, factors, duplicates
    (
        _static(_member(id=1, share_ppm=600_000), _member(id=2, share_ppm=400_001)),
        "member 2: shares sum to 1000001 ppm up to this member, more than 1000000",
    ),
    (_static(_member(share_ppm=-1)), "member 7: share_ppm must be an integer 0..1000000, got -1"),
    (_static(_member(share_ppm=0.5)), "member 7: share_ppm must be an integer 0..1000000, got 0.5"),
    (_static(_member()), "member 7: the static key needs share_ppm"),
    (_static(_member(share_ppm=None)), "member 7: the static key needs share_ppm"),
    (_slot(_member(share_ppm=5)), "member 7: share_ppm is only used by the static key"),
    (_slot(_member(share_ppm=None)), "member 7: share_ppm is only used by the static key"),
    (
        _slot(_member(participation_pct=0)),
        "member 7: participation_pct must be an integer 1..100, got 0",
    ),
    (
        _slot(_member(participation_pct=101)),
        "member 7: participation_pct must be an integer 1..100, got 101",
    ),
    (
        _slot(_member(participation_pct=50.0)),
        "member 7: participation_pct must be an integer 1..100, got 50.0",
    ),
    (
        _slot(_member(participation_pct=None)),
        "member 7: participation_pct must be an integer 1..100, got None",
    ),
    (_slot(_member(), _member(net_export_wh=3)), "member 7: duplicate id"),
    # types: booleans and floats are not integers
    (
        _slot(_member(net_export_wh=True)),
        "member 7: net_export_wh must be an integer within ±2**40, got True",
    ),
    (
        _slot(_member(net_export_wh=1.0)),
        "member 7: net_export_wh must be an integer within ±2**40, got 1.0",
    ),
    (
        _slot(_member(net_export_wh="10")),
        "member 7: net_export_wh must be an integer within ±2**40, got '10'",
    ),
    (
        '{"members": [{"id": 7, "net_export_wh": NaN}]}',
        "member 7: net_export_wh must be an integer within ±2**40, got nan",
    ),
    (
        '{"members": [{"id": 7, "net_export_wh": 1e400}]}',
        "member 7: net_export_wh must be an integer within ±2**40, got inf",
    ),
    (_slot(_member(id=True)), "members[0]: id must be an integer 0..2**63-1, got True"),
    (_slot(_member(id="7")), "members[0]: id must be an integer 0..2**63-1, got '7'"),
    (_slot(_member(id=7.0)), "members[0]: id must be an integer 0..2**63-1, got 7.0"),
    # bounds
    (
        _slot(_member(net_export_wh=2**40 + 1)),
        "member 7: net_export_wh must be an integer within ±2**40, got 1099511627777",
    ),
    (
        _slot(_member(net_export_wh=-(2**40) - 1)),
        "member 7: net_export_wh must be an integer within ±2**40, got -1099511627777",
    ),
    (_slot(_member(id=-1)), "members[0]: id must be an integer 0..2**63-1, got -1"),
    (
        _slot(_member(id=2**63)),
        "members[0]: id must be an integer 0..2**63-1, got 9223372036854775808",
    ),
    (
        '{"members": [{"id": 7, "net_export_wh": ' + "9" * 4000 + "}]}",
        "member 7: net_export_wh must be an integer within ±2**40, got a number too large",
    ),
    (
        '{"members": [{"id": ' + "9" * 4000 + ', "net_export_wh": 1}]}',
        "members[0]: id must be an integer 0..2**63-1, got a number too large",
    ),
    (
        '{"members": [{"id": 7, "net_export_wh": ' + "9" * 5000 + "}]}",
        f"invalid JSON: a number has more than {sys.get_int_max_str_digits()} digits",
    ),
    # shape: unknown, missing, wrong types
    (_slot(_member(qty=1)), "member 7: unknown field 'qty'"),
    (_slot(_member(), slot=3), "the input: unknown field 'slot'"),
    (_slot({"net_export_wh": 1}), "members[0]: missing field 'id'"),
    (_slot({"id": 3}), "member 3: missing field 'net_export_wh'"),
    (json.dumps({"key": "dynamic"}), "missing field 'members'"),
    (json.dumps({"members": {}}), "members must be a JSON array"),
    (_slot([1]), "members[0]: must be a JSON object"),
    (_slot(_member(), key="auction"), "key must be 'dynamic' or 'static', got 'auction'"),
    (_slot(_member(), key=["static"]), "key must be 'dynamic' or 'static', got ['static']"),
    (json.dumps([]), "the input must be a JSON object"),
    (json.dumps("members"), "the input must be a JSON object"),
    ("null", "the input must be a JSON object"),
    ('{"members": [], "members": []}', "invalid JSON: duplicate key 'members'"),
    ('{"members": [}', "invalid JSON: Expecting value: line 1 column 14 (char 13)"),
    ("", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
    ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ('{"members": [{"id": 7, "net_export_wh": -1, "\\nx": 1}]}', "member 7: unknown field '\\nx'"),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[m[:60] for _, m in INVALID])
def test_invalid_input_exits_2_with_one_line(text: str, message: str) -> None:
    result = CliRunner().invoke(app, ["allocate", "-"], input=text)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("[" * 100_000, "invalid JSON: nested too deeply"),
        ('{"members": [{"id": 7, "net_export_wh": ' + "9" * 5000 + "}]}", "invalid JSON: a number"),
        (_static(_member(id=1, share_ppm=10**6), _member(id=2, share_ppm=1)), "member 2: shares"),
        (_slot(_member(participation_pct=True)), "member 7: participation_pct must be"),
    ],
    ids=["deep nesting", "5000 digits", "shares", "boolean factor"],
)
def test_invalid_input_in_a_real_process(text: str, start: str) -> None:
    assert_one_line_error(run("-", stdin=text), start)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"members": [], "k": "é"}'.encode("latin-1"))
    assert_one_line_error(run(str(path)), f"cannot read {path}: 'utf-8' codec can't decode")
    assert_one_line_error(run("-", stdin=b"\xff\xfe{}"), "cannot read -: 'utf-8' codec")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_one_line_error(run(str(tmp_path / "missing.json")), "cannot read ")
    assert_one_line_error(run(str(tmp_path)), "cannot read ")


def test_parse_in_process() -> None:
    parsed = parse_sharing({"key": "static", "members": [_member(share_ppm=3)]})
    assert parsed.key is Key.STATIC
    assert parsed.members[0].share_ppm == 3
    assert parsed.members[0].participation_pct == 100  # the rulebook's default
    assert parse_sharing({"members": []}).key is Key.DYNAMIC  # the rulebook's default key
    with pytest.raises(SharingInputError) as caught:
        parse_sharing_text(_slot(_member(), _member()))
    assert caught.value.member_id == 7
