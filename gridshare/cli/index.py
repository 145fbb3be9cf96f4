"""`gridshare index ...`: the event index's commands (registered in gridshare/cli/__init__.py)."""

from __future__ import annotations

from typing import Annotated

import typer

index_app = typer.Typer(
    help="The event index: every contract event in SQL tables (SQLite or PostgreSQL).",
    no_args_is_help=True,
)


@index_app.command("run")
def index_run(
    network: Annotated[
        str, typer.Option(help="Network id: deployments/<id>.json and brownie's network entry.")
    ],
    db: Annotated[
        str | None,
        typer.Option(help="Database URL (default: settings.index_db_url, a SQLite file)."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Index up to the confirmed head, then exit.")
    ] = False,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Blocks per batch (settings.index_batch_blocks).")
    ] = None,
    confirmations: Annotated[
        int | None,
        typer.Option(min=0, help="Blocks behind the head (settings.index_confirmations)."),
    ] = None,
    poll: Annotated[
        float | None, typer.Option(help="Seconds between passes (settings.index_poll_seconds).")
    ] = None,
) -> None:
    """Migrate the database to the current schema, then index every event of every contract of
    the deployment, batch by batch, and keep following the chain (reorg-safe, resumable)."""
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from chain.node import NodeError
    from gridshare import wiring
    from gridshare.settings import configure_logging, load_settings
    from indexer.decode import UnknownEvent
    from indexer.service import IndexerError

    configure_logging()
    settings = load_settings().with_options(
        index_db_url=db, index_batch_blocks=batch, index_confirmations=confirmations
    )
    try:
        indexer = wiring.indexer(settings, network)
        if once:
            results = indexer.run_once()
            events = sum(r.events for r in results)
            typer.echo(f"indexed up to block {indexer.checkpoint().block_number}: {events} events")
        else:
            indexer.run_forever(poll if poll is not None else settings.index_poll_seconds)
    except (NodeError, IndexerError, UnknownEvent, SQLAlchemyError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=1) from e
    except KeyboardInterrupt:
        logging.getLogger("indexer").info("stopped")
