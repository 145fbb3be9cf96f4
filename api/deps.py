"""Dependencies as annotated types: the chain view, the database, the signed-in user by role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from api.auth import Authenticator
from api.errors import ApiError
from api.history import History
from api.view import ROLES_KEY, ChainView, Roles
from gridshare.settings import Settings

T = TypeVar("T")


async def get_view(request: Request) -> ChainView:
    return request.app.state.view  # type: ignore[no-any-return]


async def get_auth(request: Request) -> Authenticator:
    return request.app.state.auth  # type: ignore[no-any-return]


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_history(request: Request) -> History:
    return request.app.state.history  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


ViewDep = Annotated[ChainView, Depends(get_view)]
AuthDep = Annotated[Authenticator, Depends(get_auth)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
HistoryDep = Annotated[History, Depends(get_history)]

_bearer = HTTPBearer(auto_error=False, description="Session token from POST /auth/login")


@dataclass(frozen=True)
class User:
    address: str
    roles: Roles


async def cached_read(
    view: ChainView, key: tuple[Any, ...], read: Callable[..., T], *args: Any
) -> T:
    """A chain read on the event loop when it is cached at the head (the hot path: no thread
    hop), else in the thread pool (it may wait for the node)."""
    hit, value = view.peek(key)
    if hit:
        return value  # type: ignore[no-any-return]
    return await run_in_threadpool(read, *args)


async def current_user(
    view: ViewDep,
    auth: AuthDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise ApiError(401, "unauthorized", "sign in first: Authorization: Bearer <token>")
    session = auth.session(credentials.credentials)
    roles = await cached_read(view, (*ROLES_KEY, session.address), view.roles, session.address)
    return User(session.address, roles)


CurrentUser = Annotated[User, Depends(current_user)]


async def member_user(user: CurrentUser) -> User:
    if not user.roles.member_role:
        raise ApiError(403, "not_member", f"{user.address} is not a trading member")
    return user


async def dso_user(user: CurrentUser) -> User:
    if not user.roles.dso:
        raise ApiError(403, "not_dso", f"{user.address} does not hold the DSO role")
    return user


async def auditor_user(user: CurrentUser) -> User:
    if not (user.roles.auditor or user.roles.dso):
        raise ApiError(403, "not_auditor", f"{user.address} is neither auditor nor DSO")
    return user


MemberUser = Annotated[User, Depends(member_user)]
DsoUser = Annotated[User, Depends(dso_user)]
AuditorUser = Annotated[User, Depends(auditor_user)]
