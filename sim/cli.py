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


def flex_command(
    community: Annotated[
        Path, typer.Option(help="The community file (TOML), e.g. communities/default-20.toml.")
    ],
    days: Annotated[
        int, typer.Option(min=2, help="Days: the last is the event day, the others baseline.")
    ] = 6,
    limit_kwh: Annotated[
        float | None,
        typer.Option(help="Transformer limit, kWh net import per slot (default: 80 % of peak)."),
    ] = None,
    max_price: Annotated[int, typer.Option(min=0, help="DSO's maximum price, n€/Wh.")] = 250_000,
    start_hour: Annotated[
        int,
        typer.Option(
            min=0, max=23, help="The run begins at this hour of day 1 (a shorter history)."
        ),
    ] = 0,
    network: Annotated[
        str,
        typer.Option(
            help="A brownie network id whose node is running (deployed to afresh), or `dev`: a "
            "private ganache on a free port, removed afterwards."
        ),
    ] = "dev",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Pure rulebook only, no chain (sim/offline.py).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: reports/<community>-flex).")
    ] = None,
) -> None:
    """DSO congestion scenario: the evening import peak above the transformer limit, bought
    down with flexibility from households and the community battery. On a chain (default) the
    DSO's requests, the members' offers, the matcher's acceptance and payout all go through the
    Flexibility contract, and the run ends with the audit; `--dry-run` settles it with the pure
    rulebook. Prints the peak before and after, what the DSO paid and each member's earnings
    (sim/flex.py)."""
    import logging
    import tempfile

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from chain.node import NodeError
    from gridshare.settings import load_settings
    from sim.community import CommunityFileError, load_community
    from sim.flex import FlexParams, print_flex, run_congestion, simulate_flex, write_flex_report
    from sim.profiles import community_profiles

    try:
        spec = load_community(community)
    except CommunityFileError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    settings = load_settings()
    limit = None if limit_kwh is None else round(limit_kwh * 1000)
    params = FlexParams.from_settings(
        settings, limit_wh=limit, max_price=max_price, start_hour=start_hour
    )
    console = Console()
    if dry_run:
        result = run_congestion(spec, community_profiles(spec, days), days, params)
    else:
        logging.getLogger("matcher").setLevel(logging.WARNING)
        with (
            tempfile.TemporaryDirectory(prefix="gridshare-flex-") as deployments,
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
                chain = simulate_flex(
                    spec, days, network, settings, Path(deployments), params, step
                )
            except (NodeError, RuntimeError, ValueError) as e:
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(code=1) from e
        result = chain.scenario
    print_flex(result, console)
    path = write_flex_report(result, out or Path("reports") / f"{spec.name}-flex")
    console.print(f"  report: {path} (and flex-peak.png beside it)")
