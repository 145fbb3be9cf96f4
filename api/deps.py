"""Dependencies as annotated types: the chain view, the database, the intent pool, the signed-in
user by role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from api.auditjob import AuditJobs
from api.auth import Authenticator
from api.errors import ApiError
from api.history import MAX_SLOTS, History, check_range
from api.view import ROLES_KEY, ChainView, Roles
from gridshare.settings import Settings
from intents.pool import IntentPool

T = TypeVar("T")


def _app_state(name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency answering the application's `state.<name>` (set by api.main.create_app),
    typed as `kind` (only for the type checker)."""

    async def dependency(request: Request) -> T:
        return cast(T, getattr(request.app.state, name))

    dependency.__name__ = f"get_{name}"
    return dependency


get_view = _app_state("view", ChainView)
get_auth = _app_state("auth", Authenticator)
get_engine = _app_state("engine", Engine)
get_history = _app_state("history", History)
get_pool = _app_state("pool", IntentPool)
get_settings = _app_state("settings", Settings)
get_audits = _app_state("audits", AuditJobs)

ViewDep = Annotated[ChainView, Depends(get_view)]


def only_in_mode(sharing: bool, code: str, message: str) -> Any:
    """A dependency that answers 409 `code` with `message` unless the community was deployed
    in the `sharing` mode (`sharing`) or for trading (not `sharing`)."""

    def check(view: ViewDep) -> None:
        if view.sharing_mode is not sharing:
            raise ApiError(409, code, message)

    return Depends(check)


# A community deployed in the `sharing` mode allocates each slot's production by a key after
# delivery and has no order book to trade on; one deployed for trading allocates nothing.
TradingOnly = only_in_mode(
    False,
    "sharing_mode",
    "this community shares its production by an allocation key; it has no order book "
    "(see /bills for what the community covered)",
)
SharingOnly = only_in_mode(
    True,
    "trading_mode",
    "this community trades in a local market; it allocates nothing by a key "
    "(see /trades and /bills)",
)
AuthDep = Annotated[Authenticator, Depends(get_auth)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
HistoryDep = Annotated[History, Depends(get_history)]
PoolDep = Annotated[IntentPool, Depends(get_pool)]
AuditsDep = Annotated[AuditJobs, Depends(get_audits)]

_bearer = HTTPBearer(auto_error=False, description="Session token from POST /auth/login")


@dataclass(frozen=True)
class User:
    address: str
    roles: Roles

    def require_signer(self, signer: str, what: str) -> None:
        """403 `not_owner` unless `signer` (`what` names it: "the order's owner") is this user:
        the API relays or pools only what the signed-in account signed."""
        if signer != self.address:
            raise ApiError(403, "not_owner", f"{what} must be the signed-in account")


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


# -- slot ranges (history queries) -------------------------------------------------------------

SlotQ = Annotated[int | None, Query(ge=0, lt=2**64)]
"""An optional slot (or period) number as a query parameter."""
SlotBound = Annotated[int, Query(ge=0, lt=2**64)]
"""A required slot number as a query parameter."""


@dataclass(frozen=True)
class SlotRange:
    """An inclusive slot range [lo, hi]; `period` when it was given as a period."""

    lo: int
    hi: int
    period: int | None


def slot_range(
    view: ViewDep, from_slot: SlotQ = None, to_slot: SlotQ = None, period: SlotQ = None
) -> SlotRange:
    """`?period=p` (the period's slots) or `?from_slot=a&to_slot=b`; anything else is a 422."""
    if period is not None:
        if from_slot is not None or to_slot is not None:
            raise ApiError(422, "invalid_range", "give either period or from_slot/to_slot")
        length = view.ledger.period_slots()
        return SlotRange(period * length, (period + 1) * length - 1, period)
    if from_slot is None or to_slot is None:
        raise ApiError(422, "invalid_range", "give period, or from_slot and to_slot")
    return SlotRange(from_slot, to_slot, None)


@dataclass(frozen=True)
class SlotWindow:
    """A required inclusive slot range `?from_slot=a&to_slot=b`."""

    from_slot: int
    to_slot: int


def slot_window(from_slot: SlotBound, to_slot: SlotBound) -> SlotWindow:
    return SlotWindow(from_slot, to_slot)


def recent_window(from_slot: int | None, to_slot: int | None, last: int) -> SlotWindow:
    """`from_slot`..`to_slot` when both are given (at most MAX_SLOTS slots, as every history
    range), else the MAX_SLOTS slots up to `last`: a list endpoint's bounded default."""
    if from_slot is None and to_slot is None:
        return SlotWindow(max(0, last - MAX_SLOTS + 1), last)
    if from_slot is None or to_slot is None:
        raise ApiError(422, "invalid_range", "give both from_slot and to_slot, or neither")
    check_range(from_slot, to_slot)
    return SlotWindow(from_slot, to_slot)


FromSlotQ = Annotated[
    int | None,
    Query(
        ge=0,
        lt=2**64,
        description=f"first slot listed (with to_slot; at most {MAX_SLOTS} slots per request)",
    ),
]
ToSlotQ = Annotated[
    int | None,
    Query(ge=0, lt=2**64, description="last slot listed, inclusive (with from_slot)"),
]

SlotRangeDep = Annotated[SlotRange, Depends(slot_range)]
SlotWindowDep = Annotated[SlotWindow, Depends(slot_window)]
