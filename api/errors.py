"""Every error the API returns is JSON `{"code": ..., "message": ...}` with a stable code.

A contract revert becomes a 4xx naming the custom error (`contract_error`, with its decoded
arguments); bad input is 4xx before anything is sent; only bugs are 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import Scope

from chain.node import NodeError, NodeUnavailable, TransactionReverted

log = logging.getLogger("api")


class ApiError(Exception):
    """An error with an HTTP status and a stable code, raised by routes and dependencies."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


# Custom errors that mean the request itself is wrong (422), names the caller may not use
# (403) or something that does not exist (404); every other revert is a state conflict (409).
# A top-up to (or a battery lease for) an account that is not a member (now) is a conflict like
# the API's own check of it, not a forbidden caller: it is matched first.
_CONFLICT = ("EnergyTokenNotMember", "ProfitSharingNotMember")
_UNPROCESSABLE = (
    "ZeroEnergy",
    "EnergyTooLarge",
    "PriceOutOfBounds",
    "InvalidRange",
    "BeyondHorizon",
    "InvalidTariff",
    "TariffTooEarly",
    "ZeroAmount",
    "MissingReference",
    "InvalidRole",
    "ZeroAddress",
    "SignatureExpired",
    "InvalidQuantity",
    "InvalidPrice",
    "InvalidGateClosure",
)
_FORBIDDEN = ("BadSignature", "NotOwner", "NotMember", "RoleCannotSell")
_NOT_FOUND = ("UnknownOrder", "UnknownMeter", "UnknownRequest")


def revert_status(error: str | None) -> int:
    """HTTP status of a revert with custom error `error` (None: undecodable)."""
    if error is None or error in _CONFLICT:
        return 409
    if error.endswith(_NOT_FOUND):
        return 404
    if error.endswith(_FORBIDDEN):
        return 403
    if error.endswith(_UNPROCESSABLE):
        return 422
    return 409


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) >= 2**53 else value
    return str(value)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at the request's path, sorted.

    Starlette answers a 405 from the first route whose path matched and lists only that route's
    methods; a path served by several routes (GET and DELETE /orders/{id}) needs all of them.
    Each method is tried against every route through the public `matches` (FastAPI nests
    included routers, so the routes' own method sets are not all visible at the top level).
    Mounts (the dashboard's static files) are left out: they match any method.
    """
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
            if not isinstance(route, Mount)
        )
    ]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.extra), exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(first['loc'])}: {first['msg']}"
        return JSONResponse(error_body("invalid_request", message, details=details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        headers = exc.headers
        message = str(exc.detail)
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.scope)
            if allowed:  # else keep Starlette's (a mount's own 405)
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
                message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        return JSONResponse(error_body(code, message), exc.status_code, headers=headers)

    @app.exception_handler(TransactionReverted)
    async def reverted(request: Request, exc: TransactionReverted) -> JSONResponse:
        status = revert_status(exc.error)
        log.info("rejected %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            error_body(
                "chain_revert",
                f"the contract refused: {exc.error or 'unknown error'}",
                contract_error=exc.error,
                args=_jsonable(list(exc.error_args)),
                tx_hash=exc.tx_hash,
            ),
            status,
        )

    @app.exception_handler(NodeUnavailable)
    async def unavailable(_: Request, exc: NodeUnavailable) -> JSONResponse:
        return JSONResponse(error_body("node_unavailable", str(exc)), 503)

    @app.exception_handler(NodeError)
    async def node_error(_: Request, exc: NodeError) -> JSONResponse:
        log.warning("node error: %s", exc)
        return JSONResponse(error_body("node_error", str(exc)), 502)

    @app.exception_handler(SQLAlchemyError)
    async def database(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("database error: %s", exc)
        message = f"the event index cannot be read: {type(exc).__name__}"
        return JSONResponse(error_body("index_unavailable", message), 503)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal server error"), 500)
