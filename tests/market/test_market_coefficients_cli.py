"""`gridshare export coefficients` and `gridshare import coefficients` as a user runs them: the
exported file is the golden one and imports cleanly; bad files and communities exit 2 with one
line on stderr."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
GRIDSHARE = Path(sys.executable).parent / "gridshare"
STATIC = str(ROOT / "communities" / "sharing-static-8.toml")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(GRIDSHARE), *args], input=stdin, capture_output=True, timeout=120, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *parts: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    for part in parts:
        assert part in stderr, stderr


def test_export_is_the_golden_file_and_imports_back(tmp_path: Path) -> None:
    golden = json.loads((GOLDEN / "coefficients_sharing_static_8_2026.json").read_text())
    out = tmp_path / "CAU_2026.txt"
    exported = run(
        "export", "coefficients", "--community", STATIC, "--year", "2026", "-o", str(out)
    )
    assert exported.returncode == 0 and exported.stderr == b"", exported.stderr
    data = out.read_bytes()
    assert hashlib.sha256(data).hexdigest() == golden["sha256"]
    to_stdout = run("export", "coefficients", "--community", STATIC, "--year", "2026")
    assert to_stdout.stdout == data

    imported = run("import", "coefficients", str(out), "--community", STATIC, "--year", "2026")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == b"ok: 7 CUPS with a share, 8760 hours of 2026, every hour sums to 1\n"
    from_stdin = run(
        "import", "coefficients", "-", "--community", STATIC, "--year", "2026", stdin=data
    )
    assert from_stdin.stdout == imported.stdout


def test_import_of_a_bad_file_names_line_hour_and_cups(tmp_path: Path) -> None:
    exported = run("export", "coefficients", "--community", STATIC, "--year", "2026").stdout
    lines = exported.decode().splitlines()
    cups, _, _ = lines[8].split(";")
    lines[8] = f"{cups};2;0.900000"
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n")
    result = run("import", "coefficients", str(bad), "--community", STATIC, "--year", "2026")
    assert_one_line_error(result, f"{bad}: hour 2: coefficients sum to 1.719277, not 1")
    # The same file read as 2024 (a leap year) misses its last 24 hours.
    good = tmp_path / "good.txt"
    good.write_bytes(exported)
    leap = run("import", "coefficients", str(good), "--community", STATIC, "--year", "2024")
    assert_one_line_error(leap, "hour 8761: CUPS ", " missing")


def test_bad_input_exits_2(tmp_path: Path) -> None:
    dynamic = str(ROOT / "communities" / "sharing-20.toml")
    assert_one_line_error(
        run("export", "coefficients", "--community", dynamic, "--year", "2026"),
        "sharing-20: sharing-20 has no static sharing key",
    )
    no_cups = tmp_path / "no-cups.toml"
    no_cups.write_text(Path(STATIC).read_text().replace('cups = "ES0031500000015838NK"\n', "", 1))
    assert_one_line_error(
        run("export", "coefficients", "--community", str(no_cups), "--year", "2026"),
        "member 2: has no CUPS",
    )
    assert_one_line_error(
        run("export", "coefficients", "--community", str(tmp_path / "nope.toml"), "--year", "1"),
        "cannot read community file",
    )
    assert_one_line_error(
        run(
            "import",
            "coefficients",
            str(tmp_path / "missing.txt"),
            "--community",
            STATIC,
            "--year",
            "2026",
        ),
        "cannot read",
    )
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    assert_one_line_error(
        run("import", "coefficients", str(binary), "--community", STATIC, "--year", "2026"),
        "cannot read",
    )
