"""`gridshare api`: serve the API with uvicorn."""

from __future__ import annotations

import logging

import typer
import uvicorn

from api.main import create_app
from chain.node import Node, NodeError
from gridshare.settings import load_settings


def serve(network: str, *, db: str | None, host: str | None, port: int | None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    updates: dict[str, object] = {}
    if db is not None:
        updates["index_db_url"] = db
    if host is not None:
        updates["api_host"] = host
    if port is not None:
        updates["api_port"] = port
    settings = settings.model_copy(update=updates)
    try:
        app = create_app(settings, Node.from_settings(network, settings))
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
    )
