"""The app factory: `create_app(settings, node)` wires the chain view, sign-in, the database and
the routes (and, on a local development chain when asked, the dev sign-in helper: api/dev.py).
`gridshare api --network <id>` serves it with uvicorn on the node gridshare.wiring.api_node
builds; tests serve it the same way."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from api import dev, docs, errors, store
from api.auditjob import AuditJobs
from api.auth import Authenticator
from api.history import History
from api.routes import (
    auth,
    dashboard,
    dso,
    flexibility,
    history,
    orders,
    public,
    sharing,
    wallet,
)
from api.view import ChainView, sender_from
from chain.node import Node
from gridshare.settings import Settings
from indexer.migrate import make_engine
from intents.pool import IntentPool

log = logging.getLogger("api")


def _write_accounts(settings: Settings) -> dict[str, tuple[str | None, SecretStr | None]]:
    """The sending accounts of the write endpoints by name, each as settings give it (its
    address, its key); one given neither is missing."""
    return {
        "relayer": (settings.api_relayer, settings.api_relayer_key),
        "operator": (settings.api_operator, settings.api_operator_key),
    }


def missing_write_accounts(settings: Settings) -> list[str]:
    """The sending accounts the write endpoints need but settings lack (none if read-only)."""
    if settings.api_read_only:
        return []
    return [
        f"{what} (GRIDSHARE_API_{what.upper()} or GRIDSHARE_API_{what.upper()}_KEY)"
        for what, (address, key) in _write_accounts(settings).items()
        if not (address or key)
    ]


def create_app(
    settings: Settings,
    node: Node,
    *,
    engine: Engine | None = None,
    pool: IntentPool | None = None,
) -> FastAPI:
    """The API for the deployment `node` points at; members' signed intents go to `pool`
    (default: the pool at settings.intent_pool_url, closed when the app stops)."""
    node.check_chain()
    dev_accounts = None
    if settings.api_dev_accounts is not None:
        dev.refuse_unless_dev_chain(node.manifest.chain_id)
        dev_accounts = dev.load_accounts(settings.api_dev_accounts)
        log.warning(
            "dev sign-in helper on (/dev/*): signs for the %d accounts of %s, chain %d",
            len(dev_accounts),
            settings.api_dev_accounts,
            node.manifest.chain_id,
        )
    if settings.api_read_only:
        log.warning("read-only: every write endpoint answers 503 (api_read_only is set)")
    senders = {
        what: sender_from(address, key, what)
        if (address or key) and not settings.api_read_only
        else None
        for what, (address, key) in _write_accounts(settings).items()
    }
    view = ChainView(
        node,
        relayer=senders["relayer"],
        operator=senders["operator"],
        poll_seconds=settings.api_head_poll_seconds,
        audit_batch_blocks=settings.audit_batch_blocks,
    )
    if settings.api_session_secret is not None:
        secret = settings.api_session_secret.get_secret_value().encode()
    else:
        log.warning("no api_session_secret set: sessions end when this process stops")
        secret = secrets.token_bytes(32)
    authenticator = Authenticator(
        secret=secret,
        domain=settings.api_domain or f"{settings.api_host}:{settings.api_port}",
        chain_id=node.manifest.chain_id,
        session_seconds=settings.api_session_seconds,
        nonce_seconds=settings.api_nonce_seconds,
    )
    db = engine if engine is not None else make_engine(settings.index_db_url)
    store.create_tables(db)
    own_pool = pool is None
    intent_pool = IntentPool(settings.intent_pool_url) if pool is None else pool

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        view.start()
        try:
            yield
        finally:
            view.stop()
            if own_pool:
                intent_pool.close()

    app = FastAPI(
        title="gridshare wallet API",
        version="1",
        description=(
            "Sign in with Ethereum, see your wallet, place EIP-712 signed intents (or relayed "
            "direct orders), read your bills; DSO actions; public slots and events. Amounts "
            "in n€, energy in Wh, prices in n€/Wh. Errors: {code, message}."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py, without a CDN
        redoc_url=None,
        responses={
            400: {"model": errors_model()},
            401: {"model": errors_model()},
            403: {"model": errors_model()},
            404: {"model": errors_model()},
            409: {"model": errors_model()},
            422: {"model": errors_model()},
            503: {"model": errors_model()},
        },
    )
    app.state.settings = settings
    app.state.view = view
    app.state.audits = AuditJobs(view)
    app.state.auth = authenticator
    app.state.engine = db
    app.state.pool = intent_pool
    app.state.history = History(db)
    app.state.history.refresh()
    view.hooks.append(app.state.history.refresh)
    errors.install(app)
    for module in (auth, wallet, orders, dso, public, history, flexibility, sharing):
        app.include_router(module.router)
    if dev_accounts is not None:
        app.state.dev_accounts = dev_accounts
        app.include_router(dev.router)
    dashboard.install(app)
    docs.install(app)
    return app


def errors_model() -> type:
    from api.schemas import ErrorPublic

    return ErrorPublic
