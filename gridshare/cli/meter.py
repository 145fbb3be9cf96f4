"""`gridshare meter ...`: the meter side, run where the meter is: make its key, sign its
readings into the relay's outbox."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from gridshare.cli.oracle import run_service

meter_app = typer.Typer(
    help="A meter's signer: its source → readings signed with its own key → the relay's outbox.",
    no_args_is_help=True,
)
MeterOption = Annotated[str, typer.Option(help="The meter's name (its id on-chain).")]


@meter_app.command("run")
def run_command(
    meter: MeterOption,
    source: Annotated[
        str,
        typer.Option(
            help="dsmr-serial:/dev/ttyUSB0 | dsmr-tcp:HOST:PORT | dsmr-file:PATH | "
            "sml-file:PATH | csv:PATH | sim:CONFIG"
        ),
    ],
    network: Annotated[str, typer.Option(help="Network id (deployments/<id>.json).")],
    once: Annotated[
        bool, typer.Option("--once", help="Stop when the source is exhausted.")
    ] = False,
) -> None:
    """Read the meter's samples, sign its slot readings with its key (per span of
    GRIDSHARE_METER_SPAN_SLOTS slots), queue them for the relay."""
    from chain.node import NodeError
    from gridshare.settings import load_settings
    from oracle.meter.keys import MeterKeyError
    from oracle.meter.service import SpanError, run
    from oracle.sources import SourceSpecError

    stats = run_service(
        lambda: run(load_settings(), network, meter, source, once=once),
        *(MeterKeyError, NodeError, SourceSpecError, SpanError, OSError),
    )
    typer.echo(json.dumps({"meter": meter, "ingest": asdict(stats)}))


@meter_app.command("new-key")
def new_key_command(meter: MeterOption) -> None:
    """Create a meter key in its keystore file; prints the address to register on-chain."""
    import secrets

    from eth_account import Account

    from gridshare.settings import load_settings
    from oracle.meter.keys import MeterKeyError, write_keystore
    from oracle.samples import meter_id

    settings = load_settings()
    if settings.meter_key_password is None:
        typer.echo("error: set GRIDSHARE_METER_KEY_PASSWORD", err=True)
        raise typer.Exit(code=2)
    key = "0x" + secrets.token_hex(32)
    try:
        path = write_keystore(
            settings.meter_keystore_dir, meter, key, settings.meter_key_password.get_secret_value()
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
