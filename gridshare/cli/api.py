"""`gridshare api`: serve the API with uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from api.dev import DevHelperRefused
from api.main import missing_write_accounts
from chain.node import NodeError
from gridshare import wiring
from gridshare.settings import configure_logging, load_settings


def serve(network: str, *, db: str | None, host: str | None, port: int | None) -> None:
    """Serve the API with the options given over settings; exit 2 when the write endpoints lack
    an account or the dev sign-in helper is refused, 1 when the node or deployment is not
    there."""
    configure_logging()
    settings = load_settings().with_options(index_db_url=db, api_host=host, api_port=port)
    missing = missing_write_accounts(settings)
    if missing:
        typer.echo(
            f"error: the write endpoints need the {' and the '.join(missing)}; "
            "set them, or GRIDSHARE_API_READ_ONLY=true to serve reads only",
            err=True,
        )
        raise typer.Exit(code=2)
    try:
        app = wiring.api_app(settings, network)
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
        # (gridshare.wiring.api_node), so none waits on a dead node past it.
        timeout_graceful_shutdown=settings.api_shutdown_seconds,
    )
