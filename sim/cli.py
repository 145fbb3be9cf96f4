"""`gridshare simulate` and `gridshare simulate-flex`: run a community file on a chain and write
its report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from chain.devchain import DevChain
    from gridshare.settings import Settings
    from sim.community import Community
    from sim.runner import Member, RunResult

T = TypeVar("T")
Step = Callable[[int, int], None]

CommunityOption = Annotated[
    Path, typer.Option(help="The community file (TOML), e.g. communities/default-20.toml.")
]
NetworkOption = Annotated[
    str,
    typer.Option(
        help="A brownie network id whose node is running (deployed to afresh; its manifest is "
        "kept in the deployments folder, to index), or `dev`: a private ganache on a free port, "
        "removed afterwards. The manifest is also copied into the report folder."
    ),
]


def _or_exit(call: Callable[[], T], errors: tuple[type[Exception], ...], code: int) -> T:
    """`call()`; one of `errors` exits `code` with its message as one `error: ...` line on
    stderr, not a traceback."""
    try:
        return call()
    except errors as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=code) from e


def _load(community: Path) -> Community:
    """The community file, or exit 2 with the error naming file and field."""
    from sim.community import CommunityFileError, load_community

    return _or_exit(lambda: load_community(community), (CommunityFileError,), 2)


def _on_chain(
    console: Console,
    spec: Community,
    network: str,
    prefix: str,
    run: Callable[[Path, Step], T],
) -> T:
    """Run `run(deployments_dir, step)` under a progress bar of slots (plain progress lines when
    the output is not a terminal); a node or run error exits 1 with its message."""
    import logging
    import tempfile
    from contextlib import ExitStack

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from chain.node import NodeError

    logging.getLogger("matcher").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix=prefix) as deployments, ExitStack() as stack:
        step: Step
        if console.is_terminal:
            bar = stack.enter_context(
                Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                )
            )
            task = bar.add_task(f"{spec.name}: deploying on {network}", total=None)

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=f"{spec.name}: slots")

        else:
            console.print(f"{spec.name}: deploying on {network}", markup=False, highlight=False)
            step = plain_progress(
                lambda line: console.print(line, markup=False, highlight=False), spec.name
            )
        return _or_exit(
            lambda: run(Path(deployments), step), (NodeError, RuntimeError, ValueError), 1
        )


def _simulate_and_report(
    console: Console,
    spec: Community,
    days: int,
    network: str,
    settings: Settings,
    directory: Path,
    deployments: Path | None,
) -> RunResult:
    """`spec` run for `days` days on `network` under the progress bar (sim/chainrun.py), its
    summary printed and its report written to `directory`. `deployments`: the manifest's folder
    (None: a temporary one)."""
    from sim.chainrun import simulate
    from sim.report import print_summary, write_report

    result = _on_chain(
        console,
        spec,
        network,
        "gridshare-sim-",
        lambda temporary, step: simulate(
            spec, days, network, settings, deployments or temporary, step
        ),
    )
    print_summary(result, console)
    path = write_report(result, directory)
    console.print(f"  report: {path} (PNG plots and statements.json beside it)")
    return result


def plain_progress(
    write: Callable[[str], None], name: str, clock: Callable[[], float] | None = None
) -> Step:
    """Progress as plain lines, for a log or a pipe (`make demo > log`): rich's bar draws
    nothing there until the run ends. A line every few slots (about 24 in a run, at least every
    4 slots) and at the last: slots done of the total and whole seconds since the start."""
    import time

    now = clock or time.monotonic
    start = now()
    shown = 0

    def step(done: int, total: int) -> None:
        nonlocal shown
        every = max(4, total // 24)
        if done != shown and (done == total or done - shown >= every):
            shown = done
            write(f"{name}: {done}/{total} slots, {int(now() - start)} s")

    return step


def simulate_command(
    community: CommunityOption,
    days: Annotated[int, typer.Option(min=1, help="Days to simulate.")] = 1,
    network: NetworkOption = "dev",
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: reports/<community name>).")
    ] = None,
) -> None:
    """Deploy the community's contracts, trade `days` days slot by slot through the order book,
    the matcher, signed meter readings and settlement, and report bills against BaU."""
    from rich.console import Console

    from gridshare.settings import load_settings
    from sim.chainrun import keep_deployment

    console = Console()
    spec = _load(community)
    settings = load_settings()
    directory = out or Path("reports") / spec.name
    result = _simulate_and_report(console, spec, days, network, settings, directory, None)
    kept = keep_deployment(result.deployment, network, settings.deployments_dir, directory)
    if kept:
        console.print(kept, markup=False, highlight=False)


def flex_command(
    community: CommunityOption,
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
    network: NetworkOption = "dev",
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
    from rich.console import Console

    from gridshare.settings import load_settings
    from sim.chainrun import keep_deployment
    from sim.flex import FlexParams, print_flex, run_congestion, simulate_flex, write_flex_report
    from sim.profiles import community_profiles

    spec = _load(community)
    settings = load_settings()
    limit = None if limit_kwh is None else round(limit_kwh * 1000)
    params = FlexParams.from_settings(
        settings, limit_wh=limit, max_price=max_price, start_hour=start_hour
    )
    console = Console()
    deployment = None
    if dry_run:
        result = run_congestion(spec, community_profiles(spec, days), days, params)
    else:
        run = _on_chain(
            console,
            spec,
            network,
            "gridshare-flex-",
            lambda deployments, step: simulate_flex(
                spec, days, network, settings, deployments, params, step
            ),
        )
        result, deployment = run.scenario, run.run.deployment
    print_flex(result, console)
    directory = out or Path("reports") / f"{spec.name}-flex"
    path = write_flex_report(result, directory)
    console.print(f"  report: {path} (and flex-peak.png beside it)")
    kept = keep_deployment(deployment, network, settings.deployments_dir, directory)
    if kept:
        console.print(kept, markup=False, highlight=False)


def _sharing_and_report(
    console: Console,
    spec: Community,
    days: int,
    settings: Settings,
    chain: DevChain,
    out: Path | None,
) -> Sequence[Member]:
    """A sharing community's days on `chain` (as `simulate-sharing --chain`), its summary and
    report; the members registered."""
    from sim.sharingchain import format_run, run_sharing_on_chain
    from sim.sharingreport import chain_report, write_sharing_report

    step = plain_progress(lambda line: console.print(line, markup=False), spec.name)
    run = run_sharing_on_chain(spec, days, chain.deployments_dir, settings, step, chain)
    console.print(format_run(run), markup=False, highlight=False, end="")
    directory = out or Path("reports") / f"{spec.name}-sharing"
    console.print(f"  report: {write_sharing_report(chain_report(run), directory)}", markup=False)
    if not (run.audit.ok and run.matches_rule):
        raise RuntimeError("the chain's allocation differs from the rule or the audit failed")
    return run.members


def dashboard_command(
    community: CommunityOption = Path("communities/default-20.toml"),
    days: Annotated[int, typer.Option(min=1, help="Days to run before serving.")] = 1,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="The API's port (settings.api_port).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: reports/<community name>).")
    ] = None,
) -> None:
    """The newcomer's path: a private chain, the community run on it for `days` days (as
    `gridshare simulate`, or `simulate-sharing --chain` for a community with a [sharing]
    section; report included), then the indexer and the API with the dashboard, until Ctrl-C.
    Prints the address and the accounts to sign in as (households and the DSO, through the API's
    dev sign-in helper, which only a local development chain offers)."""
    from rich.console import Console

    from gridshare.settings import load_settings
    from sim.dashboard import DashboardError, run_dashboard

    console = Console()
    spec = _load(community)
    settings = load_settings()

    def run(chain: DevChain) -> Sequence[Member]:
        if spec.sharing is not None:
            return _sharing_and_report(console, spec, days, settings, chain, out)
        directory = out or Path("reports") / spec.name
        result = _simulate_and_report(
            console, spec, days, chain.network_id, settings, directory, chain.deployments_dir
        )
        return result.members

    _or_exit(
        lambda: run_dashboard(spec, port or settings.api_port, console, run),
        (DashboardError, RuntimeError),
        1,
    )
