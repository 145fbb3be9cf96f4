"""The `gridshare` command line. Each stage of the data flow adds its subcommands here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gridshare",
    help="Settlement for community electricity markets: clearing, settlement, oracle, audit.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """gridshare: the prepaid community electricity market."""


@app.command()
def version() -> None:
    """Print the gridshare version."""
    from gridshare import __version__

    typer.echo(__version__)
