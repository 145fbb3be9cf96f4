"""Sign-In with Ethereum: a nonce, then a signed EIP-4361 message, gives a session token."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AuthDep, CurrentUser, ViewDep
from api.schemas import LoginCreate, MePublic, NoncePublic, SessionPublic

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/nonce")
def nonce(auth: AuthDep) -> NoncePublic:
    """A fresh single-use nonce for a SIWE message, and the domain and chain it must name."""
    value, expires = auth.nonces.issue()
    return NoncePublic(nonce=value, domain=auth.domain, chain_id=auth.chain_id, expires_at=expires)


@router.post("/login")
def login(body: LoginCreate, auth: AuthDep, view: ViewDep) -> SessionPublic:
    """Check the signed SIWE message and return a bearer token; roles are read from the chain."""
    token, session = auth.sign_in(body.message, body.signature)
    roles = view.roles(session.address)
    return SessionPublic(
        token=token, address=session.address, roles=roles.names(), expires_at=session.expires_at
    )


@router.get("/me")
def me(user: CurrentUser) -> MePublic:
    """Who the token belongs to and its roles now."""
    return MePublic(
        address=user.address, roles=user.roles.names(), member_role=user.roles.member_role
    )
