"""A meter's key: one encrypted keystore file (Web3 Secret Storage, as eth-account writes it),
`<directory>/<meter>.json`, opened with a password from the meter signer's environment.

Only the meter side (`gridshare meter ...`) opens keystores; the relay never does. Decrypting a
keystore is deliberately slow (a key-derivation function), so the signer decrypts its one key
once, at start.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_typing import HexStr

from oracle.samples import MeterNameError, meter_id


class MeterKeyError(Exception):
    """A keystore is missing, unreadable or does not open with the password."""


def keystore_path(directory: Path, meter: str) -> Path:
    """Where `meter`'s keystore lives in `directory` (refuses a name that is no meter id)."""
    try:
        meter_id(meter)
    except MeterNameError as exc:
        raise MeterKeyError(str(exc)) from exc
    return directory / f"{meter}.json"


def write_keystore(
    directory: Path, meter: str, private_key: str, password: str, *, iterations: int | None = None
) -> Path:
    """Encrypt `private_key` for `meter` into its keystore file (refuses to overwrite one).
    `iterations` lowers the key-derivation work (pbkdf2); None keeps eth-account's scrypt."""
    path = keystore_path(directory, meter)
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


def read_key(directory: Path, meter: str, password: str) -> str:
    """`meter`'s private key (0x-hex), decrypted from its keystore in `directory`."""
    path = keystore_path(directory, meter)
    try:
        keystore = json.loads(path.read_text())
        raw = Account.decrypt(keystore, password)
    except (OSError, ValueError, KeyError) as exc:
        raise MeterKeyError(f"cannot open the keystore of meter {meter}: {exc}") from exc
    return "0x" + bytes(raw).hex()
