"""Sign-In with Ethereum (EIP-4361) and the session tokens it gives.

A client asks for a nonce, has the wallet sign a SIWE message naming this API's domain, the
chain id and that nonce, and posts message and signature. The nonce is used up by the attempt
(single use, also when it fails) and expires after `api_nonce_seconds`. The session token is
`base64url(address|expiry).base64url(HMAC-SHA256(secret, address|expiry))`: stateless, checked in
constant time, valid until its expiry. Roles are not in the token: they are read from the chain on
every request (cached per block), so a role granted or revoked on-chain applies at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from siwe import SiweMessage  # type: ignore[import-untyped]

from api.errors import ApiError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    address: str
    expires_at: int


class NonceStore:
    """Nonces handed out and not yet used; each is accepted once, before it expires."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._nonces: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, int]:
        nonce = secrets.token_hex(12)  # alphanumeric, >= 8 characters as EIP-4361 requires
        now = self._clock()
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            self._nonces[nonce] = now + self._ttl
        return nonce, int(now + self._ttl)

    def use(self, nonce: str) -> bool:
        """Consume `nonce`: True if it was issued, unused and not expired."""
        with self._lock:
            expiry = self._nonces.pop(nonce, None)
        return expiry is not None and expiry > self._clock()


class Authenticator:
    """Verifies SIWE sign-ins and issues and checks session tokens."""

    def __init__(
        self,
        *,
        secret: bytes,
        domain: str,
        chain_id: int,
        session_seconds: int,
        nonce_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.domain = domain
        self.chain_id = chain_id
        self._session_seconds = session_seconds
        self._clock = clock
        self.nonces = NonceStore(nonce_seconds, clock)

    # -- sign-in ---------------------------------------------------------------------------

    def sign_in(self, message: str, signature: str) -> tuple[str, Session]:
        """Check a signed SIWE message; return a session token for its address."""
        try:
            # The regex parser: the ABNF one takes seconds on a few hundred bytes of junk.
            parsed = SiweMessage.from_message(message=message, abnf=False)
        except Exception as exc:  # the parser raises several types for malformed text
            raise ApiError(422, "siwe_malformed", f"not a SIWE message: {exc}") from exc
        if not self.nonces.use(str(parsed.nonce)):
            raise ApiError(401, "siwe_bad_nonce", "unknown, used or expired nonce")
        if parsed.domain != self.domain:
            raise ApiError(
                401, "siwe_wrong_domain", f"message is for {parsed.domain!r}, not {self.domain!r}"
            )
        if int(parsed.chain_id) != self.chain_id:
            raise ApiError(
                401,
                "siwe_wrong_chain",
                f"message is for chain {parsed.chain_id}, not {self.chain_id}",
            )
        try:
            parsed.verify(signature, domain=self.domain, nonce=str(parsed.nonce))
        except Exception as exc:  # siwe's VerificationError family, and bad signature bytes
            raise ApiError(401, "siwe_invalid", f"sign-in refused: {type(exc).__name__}") from exc
        address = to_checksum_address(parsed.address)
        expires = int(self._clock()) + self._session_seconds
        return self._token(address, expires), Session(address, expires)

    # -- tokens ----------------------------------------------------------------------------

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def _token(self, address: str, expires: int) -> str:
        payload = f"{address}|{expires}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def session(self, token: str) -> Session:
        """The session a bearer token stands for; 401 if forged, malformed or expired."""
        try:
            body, mac = token.split(".")
            payload = _unb64(body)
            ok = hmac.compare_digest(_unb64(mac), self._mac(payload))
            address, expires_text = payload.decode().split("|")
            expires = int(expires_text)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(401, "invalid_token", "malformed session token") from None
        if not ok:
            raise ApiError(401, "invalid_token", "session token signature does not match")
        if expires <= self._clock():
            raise ApiError(401, "token_expired", "session expired: sign in again")
        return Session(address, expires)
