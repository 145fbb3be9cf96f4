"""Meter keys: one encrypted keystore file (Web3 Secret Storage, as eth-account writes it) per
meter, `<directory>/<meter>.json`, all opened with one password from the environment. A meter
without a keystore file is unknown to this oracle: its samples are quarantined.

Decrypting a keystore is deliberately slow (a key-derivation function), so each key is decrypted
once, on the meter's first reading, and kept in memory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from eth_account import Account
from eth_typing import HexStr

METER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class MeterKeyError(Exception):
    """A keystore is missing, unreadable or does not open with the password."""


def meter_id(meter: str) -> bytes:
    """The meter's on-chain id: its name in ASCII, right-padded with zero bytes to 32 bytes (the
    way Community.registerMeter is called for it)."""
    if not METER_NAME.match(meter):
        raise MeterKeyError(f"meter name {meter!r} is not 1-32 characters of [A-Za-z0-9._-]")
    return meter.encode("ascii").ljust(32, b"\0")


def write_keystore(
    directory: Path, meter: str, private_key: str, password: str, *, iterations: int | None = None
) -> Path:
    """Encrypt `private_key` for `meter` into its keystore file (refuses to overwrite one).
    `iterations` lowers the key-derivation work (pbkdf2); None keeps eth-account's scrypt."""
    meter_id(meter)
    path = directory / f"{meter}.json"
    if path.exists():
        raise MeterKeyError(f"{path} exists already")
    keystore = Account.encrypt(
        HexStr(private_key),
        password,
        kdf="pbkdf2" if iterations is not None else None,
        iterations=iterations,
    )
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keystore))
    return path


class MeterKeys:
    """The keystores in `directory`, opened with `password`."""

    def __init__(self, directory: Path, password: str) -> None:
        self.directory = directory
        self._password = password
        self._keys: dict[str, str] = {}

    def known(self, meter: str) -> bool:
        return bool(METER_NAME.match(meter)) and (self.directory / f"{meter}.json").is_file()

    def meters(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json") if METER_NAME.match(p.stem))

    def key(self, meter: str) -> str:
        """The meter's private key (0x-hex), decrypted on first use."""
        if meter not in self._keys:
            path = self.directory / f"{meter}.json"
            try:
                keystore = json.loads(path.read_text())
                raw = Account.decrypt(keystore, self._password)
            except (OSError, ValueError, KeyError) as exc:
                raise MeterKeyError(f"cannot open the keystore of meter {meter}: {exc}") from exc
            self._keys[meter] = "0x" + bytes(raw).hex()
        return self._keys[meter]

    def address(self, meter: str) -> str:
        """The meter's signing address (the one registered on-chain for it)."""
        return str(Account.from_key(self.key(meter)).address)
