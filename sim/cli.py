"""`gridshare simulate`: run a community file on a chain and write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def simulate_command(
    community: Annotated[
        Path, typer.Option(help="The community file (TOML), e.g. communities/default-20.toml.")
    ],
    days: Annotated[int, typer.Option(min=1, help="Days to simulate.")] = 1,
    network: Annotated[
        str,
        typer.Option(
            help="A brownie network id whose node is running (deployed to afresh), or `dev`: a "
            "private ganache on a free port, removed afterwards."
        ),
    ] = "dev",
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: reports/<community name>).")
    ] = None,
) -> None:
    """Deploy the community's contracts, trade `days` days slot by slot through the order book,
    the matcher, signed meter readings and settlement, and report bills against BaU."""
    import logging
    import tempfile

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from chain.node import NodeError
    from gridshare.settings import load_settings
    from sim.chainrun import simulate
    from sim.community import CommunityFileError, load_community
    from sim.report import print_summary, write_report

    logging.getLogger("matcher").setLevel(logging.WARNING)
    console = Console()
    try:
        spec = load_community(community)
    except CommunityFileError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    settings = load_settings()
    with (
        tempfile.TemporaryDirectory(prefix="gridshare-sim-") as deployments,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task(f"{spec.name}: deploying on {network}", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{spec.name}: slots")

        try:
            result = simulate(spec, days, network, settings, Path(deployments), step)
        except (NodeError, RuntimeError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=1) from e
    print_summary(result, console)
    path = write_report(result, out or Path("reports") / spec.name)
    console.print(f"  report: {path} (and PNG plots beside it)")
