"""`gridshare oracle ...`: run the meter oracle, list its quarantine, make meter keys."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Annotated

import typer

oracle_app = typer.Typer(
    help="The meter oracle: meter sources → meter-signed readings → MeterReadings.",
    no_args_is_help=True,
)


@oracle_app.command("run")
def run_command(
    source: Annotated[
        str,
        typer.Option(
            help="dsmr-serial:/dev/ttyUSB0 | dsmr-tcp:HOST:PORT | dsmr-file:PATH | "
            "sml-file:PATH | csv:PATH | sim:CONFIG"
        ),
    ],
    network: Annotated[str, typer.Option(help="Network id (deployments/<id>.json).")],
    once: Annotated[
        bool, typer.Option("--once", help="Stop when the source is exhausted and relayed.")
    ] = False,
) -> None:
    """Read meter samples, queue each slot's signed reading durably, relay them on-chain."""
    from chain.node import NodeError
    from gridshare.settings import load_settings
    from oracle.service import run
    from oracle.sources import SourceSpecError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        stats = run(load_settings(), network, source, once=once)
    except (NodeError, SourceSpecError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(json.dumps({"ingest": asdict(stats.ingest), "relay": asdict(stats.relay)}))


@oracle_app.command("quarantine")
def quarantine_command(
    meter: Annotated[str | None, typer.Option(help="Only this meter's entries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 1000,
) -> None:
    """List quarantined inputs with their reasons (oldest first)."""
    from gridshare.settings import load_settings
    from oracle.outbox import open_outbox, quarantined

    engine = open_outbox(load_settings().oracle_db_url)
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
    from gridshare.settings import load_settings
    from oracle.outbox import counts, open_outbox

    with open_outbox(load_settings().oracle_db_url).connect() as conn:
        typer.echo(json.dumps(counts(conn)))


@oracle_app.command("new-key")
def new_key_command(
    meter: Annotated[str, typer.Option(help="The meter's name (its id on-chain).")],
) -> None:
    """Create a meter key in its keystore file; prints the address to register on-chain."""
    import secrets

    from eth_account import Account

    from gridshare.settings import load_settings
    from oracle.keys import MeterKeyError, meter_id, write_keystore

    settings = load_settings()
    if settings.meter_key_password is None:
        typer.echo("error: set GRIDSHARE_METER_KEY_PASSWORD", err=True)
        raise typer.Exit(code=2)
    key = "0x" + secrets.token_hex(32)
    try:
        path = write_keystore(
            settings.oracle_keystore_dir, meter, key, settings.meter_key_password.get_secret_value()
        )
    except MeterKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(
        json.dumps(
            {
                "meter": meter,
                "meter_id": "0x" + meter_id(meter).hex(),
                "signer": Account.from_key(key).address,
                "keystore": str(path),
            }
        )
    )
