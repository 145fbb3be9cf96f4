"""`gridshare clear`: golden books, and invalid input rejected with one line on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from market.book_io import InvalidBookError, clearing_to_json, parse_book
from market.clearing import Mode, clear
from market.orders import Side

GOLDEN = Path(__file__).parent / "golden"
BOOKS = sorted(GOLDEN.glob("*.book.json"))
GRIDSHARE = Path(sys.executable).parent / "gridshare"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GRIDSHARE), "clear", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_there_are_golden_books() -> None:
    assert len(BOOKS) >= 6
    for book in BOOKS:
        assert book.with_name(book.name.replace(".book.", ".expected.")).exists()


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.name.removesuffix(".book.json"))
def test_golden_books(book: Path) -> None:
    result = run(str(book))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = json.loads(book.with_name(book.name.replace(".book.", ".expected.")).read_text())
    assert json.loads(result.stdout) == expected


def test_reads_stdin() -> None:
    book = GOLDEN / "rulebook_uniform.book.json"
    result = run("-", stdin=book.read_text())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["clearing_price"] == 270000
    assert json.loads(result.stdout) == json.loads(
        (GOLDEN / "rulebook_uniform.expected.json").read_text()
    )


def _order(**changes: Any) -> dict[str, Any]:
    return {"id": 7, "side": "buy", "energy_wh": 10, "price": 100, "owner": "0x7", **changes}


def _book(*orders: object, **fields: Any) -> str:
    return json.dumps({"mode": "uniform", "orders": list(orders), **fields})


INVALID = [
    (_book(_order(energy_wh=0)), "order 7: energy_wh must be a positive integer, got 0"),
    (_book(_order(energy_wh=-3)), "order 7: energy_wh must be a positive integer, got -3"),
    (_book(_order(energy_wh=1.0)), "order 7: energy_wh must be a positive integer, got 1.0"),
    (_book(_order(energy_wh="10")), "order 7: energy_wh must be a positive integer, got '10'"),
    (_book(_order(energy_wh=True)), "order 7: energy_wh must be a positive integer, got True"),
    (_book(_order(price=100.5)), "order 7: price must be a non-negative integer, got 100.5"),
    (_book(_order(price=-1)), "order 7: price must be a non-negative integer, got -1"),
    (_book(_order(price=None)), "order 7: price must be a non-negative integer, got None"),
    (_book(_order(side="hold")), "order 7: side must be 'buy' or 'sell', got 'hold'"),
    (_book(_order(side=["buy"])), "order 7: side must be 'buy' or 'sell', got ['buy']"),
    (_book(_order(owner=5)), "order 7: owner must be a string, got 5"),
    (_book(_order(id=-1)), "order -1: id must be a non-negative integer, got -1"),
    (_book(_order(id="7")), "order '7': id must be a non-negative integer, got '7'"),
    (_book(_order(), _order(side="sell")), "order 7: duplicate id"),
    (_book({"side": "buy"}), "orders[0]: missing field 'id'"),
    (_book(_order(), {"id": 8, "side": "buy"}), "order 8: missing field 'energy_wh'"),
    (_book(_order(qty=1)), "order 7: unknown field 'qty'"),
    (_book([1]), "orders[0]: must be a JSON object"),
    (
        _book(mode="auction"),
        "mode must be one of 'uniform', 'pay-as-bid', 'community', got 'auction'",
    ),
    (_book(mode="community"), "community mode needs a community_price"),
    (
        _book(mode="community", community_price=1.5),
        "community_price must be a non-negative integer, got 1.5",
    ),
    (_book(community_price=5), "community_price is only used in community mode, not uniform"),
    (json.dumps({"mode": "uniform"}), "missing field 'orders'"),
    (json.dumps({"orders": {}}), "orders must be a JSON array"),
    (json.dumps({"orders": [], "slot": 3}), "the book: unknown field 'slot'"),
    (json.dumps([]), "the book must be a JSON object"),
    ('{"orders": [}', "invalid JSON: Expecting value: line 1 column 13 (char 12)"),
    ('{"orders": [], "orders": []}', "invalid JSON: duplicate key 'orders'"),
    ("", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
    # Hostile books: each once ended in a traceback (ValueError or RecursionError).
    (
        _book(_order(energy_wh=123456789)).replace("123456789", "9" * 5000),
        "invalid JSON: a number of 5000 digits is too large (at most 78)",
    ),
    (
        _book(_order(price=-(10**100))),
        "invalid JSON: a number of 101 digits is too large (at most 78)",
    ),
    ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ('{"orders": ' + "[" * 5000 + "]" * 5000 + "}", "invalid JSON: nested too deeply"),
    (_book(_order(price=float("nan"))), "invalid JSON: NaN is not a JSON number"),
    (_book(_order(energy_wh=float("inf"))), "invalid JSON: Infinity is not a JSON number"),
    (_book(_order(id=True)), "order True: id must be a non-negative integer, got True"),
    (_book(_order(price=False)), "order 7: price must be a non-negative integer, got False"),
    (
        _book(mode="community", community_price=True),
        "community_price must be a non-negative integer, got True",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_books_exit_2_with_one_line(text: str, message: str) -> None:
    result = run("-", stdin=text)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def test_largest_uint256_still_clears() -> None:
    big = 2**256 - 1
    book = _book(_order(id=big, energy_wh=big, price=big), _order(id=1, side="sell", price=0))
    result = run("-", stdin=book)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["volume_wh"] == 10


def test_unreadable_file(tmp_path: Path) -> None:
    result = run(str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot read ")
    assert result.stderr.count("\n") == 1


def test_parse_book_in_process() -> None:
    book = parse_book(json.loads((GOLDEN / "rulebook_community.book.json").read_text()))
    assert (book.mode, book.community_price, len(book.orders)) == (Mode.COMMUNITY, 240000, 4)
    assert book.orders[0].side is Side.BUY
    assert parse_book({"orders": []}).mode is Mode.UNIFORM  # the rulebook's default mode
    with pytest.raises(InvalidBookError):
        parse_book({"orders": [_order(energy_wh=0)]})


def test_clearing_to_json_lists_every_order_by_id() -> None:
    book = parse_book({"orders": [_order(id=10), _order(id=9, side="sell"), _order(id=2)]})
    out = clearing_to_json(clear(book.orders, book.mode))
    assert list(out["orders"]) == ["2", "9", "10"]
    assert out == {
        "clearing_price": 100,
        "volume_wh": 10,
        "orders": {
            "2": {"filled_wh": 10, "amount": 1000},
            "9": {"filled_wh": 10, "amount": 1000},
            "10": {"filled_wh": 0, "amount": 0},
        },
        "pairs": [{"buy_id": 2, "sell_id": 9, "energy_wh": 10, "price": 100}],
    }
