"""`gridshare oracle ...`: run the relay, list the quarantine, count the outbox. The meter side
(signing with a meter's key) is `gridshare meter ...` (gridshare/cli/meter.py). The relay is
built by gridshare.wiring, which never loads the meter side."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, TypeVar

import typer

T = TypeVar("T")

oracle_app = typer.Typer(
    help="The oracle relay: meter-signed readings in the outbox → MeterReadings.",
    no_args_is_help=True,
)


def run_service(call: Callable[[], T], *errors: type[Exception]) -> T:
    """Run a long-lived oracle process (the relay or a meter's signer): log lines to stderr, and
    any of `errors` as one line `error: ...` with exit code 2."""
    from gridshare.settings import configure_logging

    configure_logging()
    try:
        return call()
    except errors as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@oracle_app.command("run")
def run_command(
    network: Annotated[str, typer.Option(help="Network id (deployments/<id>.json).")],
    once: Annotated[
        bool, typer.Option("--once", help="Stop after one pass that reached the chain.")
    ] = False,
) -> None:
    """Relay the meter-signed readings queued in the outbox to MeterReadings (no meter key)."""
    from chain.node import NodeError
    from gridshare import wiring
    from gridshare.settings import load_settings
    from oracle.relay import RelayStats
    from oracle.service import run

    def relay() -> RelayStats:
        settings = load_settings()
        return run(wiring.relay(settings, network), settings.oracle_poll_seconds, once=once)

    stats = run_service(relay, NodeError, OSError)
    typer.echo(json.dumps({"relay": asdict(stats)}))


@oracle_app.command("quarantine")
def quarantine_command(
    meter: Annotated[str | None, typer.Option(help="Only this meter's entries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 1000,
) -> None:
    """List quarantined inputs with their reasons (oldest first)."""
    from gridshare import wiring
    from gridshare.settings import load_settings
    from oracle.outbox import quarantined

    engine = wiring.outbox(load_settings())
    with engine.connect() as conn:
        entries = quarantined(conn, meter=meter, limit=limit)
    for e in entries:
        if as_json:
            typer.echo(json.dumps(asdict(e)))
        else:
            where = f"{e.source}#{e.position}" if e.position is not None else e.source
            slot = f" slot {e.slot}" if e.slot is not None else ""
            typer.echo(f"{e.id}\t{where}\tmeter {e.meter or '?'}{slot}\t{e.reason}")
    if not as_json:
        typer.echo(f"{len(entries)} quarantined", err=True)


@oracle_app.command("status")
def status_command() -> None:
    """Readings per state in the outbox (pending, sent, done, quarantined) as JSON."""
    from gridshare import wiring
    from gridshare.settings import load_settings
    from oracle.outbox import counts

    with wiring.outbox(load_settings()).connect() as conn:
        typer.echo(json.dumps(counts(conn)))
