"""Sessions and nonces with a moving clock (pure: no chain, no HTTP)."""

from __future__ import annotations

import pytest
from eth_account import Account

from api.auth import Authenticator
from api.client import sign_text, siwe_message
from api.errors import ApiError, revert_status

DOMAIN, CHAIN = "api.example:443", 1337


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def authenticator(clock: Clock, secret: bytes = b"s") -> Authenticator:
    return Authenticator(
        secret=secret,
        domain=DOMAIN,
        chain_id=CHAIN,
        session_seconds=60,
        nonce_seconds=30,
        clock=clock,
    )


def signed(auth: Authenticator) -> tuple[str, str, str]:
    account = Account.create()
    nonce, _ = auth.nonces.issue()
    message = siwe_message(account.address, DOMAIN, CHAIN, nonce)
    return account.address, message, sign_text(account, message)


def test_token_round_trip_and_expiry() -> None:
    clock = Clock()
    auth = authenticator(clock)
    address, message, signature = signed(auth)
    token, session = auth.sign_in(message, signature)
    assert auth.session(token).address == address == session.address
    clock.now += 59
    assert auth.session(token).address == address
    clock.now += 1
    with pytest.raises(ApiError) as err:
        auth.session(token)
    assert err.value.code == "token_expired"


def test_token_of_another_secret_is_refused() -> None:
    clock = Clock()
    ours, theirs = authenticator(clock), authenticator(clock, secret=b"other")
    _, message, signature = signed(theirs)
    token, _ = theirs.sign_in(message, signature)
    with pytest.raises(ApiError) as err:
        ours.session(token)
    assert err.value.code == "invalid_token"


def test_nonce_expires() -> None:
    clock = Clock()
    auth = authenticator(clock)
    _, message, signature = signed(auth)
    clock.now += 31
    with pytest.raises(ApiError) as err:
        auth.sign_in(message, signature)
    assert err.value.code == "siwe_bad_nonce"


def test_garbage_is_a_422_and_fast() -> None:
    auth = authenticator(Clock())
    with pytest.raises(ApiError) as err:
        auth.sign_in("0" * 4096, "0x" + "00" * 65)
    assert err.value.status == 422


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("OrderBookUnknownOrder", 404),
        ("OrderBookBadSignature", 403),
        ("OrderBookPriceOutOfBounds", 422),
        ("OrderBookGateClosed", 409),
        (None, 409),
    ],
)
def test_revert_status(error: str | None, status: int) -> None:
    assert revert_status(error) == status
