"""`gridshare api`: serve the API with uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from api.dev import DevHelperRefused
from api.main import api_node, create_app, missing_write_accounts
from chain.node import NodeError
from gridshare.settings import configure_logging, load_settings


def serve(network: str, *, db: str | None, host: str | None, port: int | None) -> None:
    configure_logging()
    settings = load_settings()
    updates: dict[str, object] = {}
    if db is not None:
        updates["index_db_url"] = db
    if host is not None:
        updates["api_host"] = host
    if port is not None:
        updates["api_port"] = port
    settings = settings.model_copy(update=updates)
    missing = missing_write_accounts(settings)
    if missing:
        typer.echo(
            f"error: the write endpoints need the {' and the '.join(missing)}; "
            "set them, or GRIDSHARE_API_READ_ONLY=true to serve reads only",
            err=True,
        )
        raise typer.Exit(code=2)
    try:
        app = create_app(settings, api_node(network, settings))
    except DevHelperRefused as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    except NodeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=1) from e
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        # After SIGTERM, in-flight requests get this long; the API's node retries are bounded
        # (api_node), so none waits on a dead node past it.
        timeout_graceful_shutdown=settings.api_shutdown_seconds,
    )
