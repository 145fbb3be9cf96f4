"""The `gridshare` command line. Each stage of the data flow adds its subcommands here; the
larger groups are the modules of this package (index, oracle, meter, audit, api). The commands
build their services through gridshare.wiring, never by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from sim.community import Community

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


@app.command("clear")
def clear_book(
    book: Annotated[
        str, typer.Argument(metavar="BOOK.json", help="The slot's book as JSON; - reads stdin.")
    ],
) -> None:
    """Clear one slot's book by the rulebook and print the clearing as JSON.

    Invalid input exits with code 2 and one line on stderr naming the order at fault;
    hostile input (huge numbers, deep nesting) too, never with a traceback.
    """
    import json

    from market.book_io import InvalidBookError, clearing_to_json, parse_book_text
    from market.clearing import clear

    text = _read_or_exit(book)
    try:
        parsed = parse_book_text(text)
    except InvalidBookError as e:
        _fail(_one_line(str(e)))
    result = clear(parsed.orders, parsed.mode, parsed.community_price)
    typer.echo(json.dumps(clearing_to_json(result), indent=2))


def _fail(message: str) -> NoReturn:
    """Exit 2, the code for bad input or usage, with `error: message` as one line on stderr
    and no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _check_year(year: int) -> None:
    """Exit 2 unless `year` is one the calendar can name (1..9999)."""
    if not 1 <= year <= 9999:
        _fail(f"year must be 1..9999, got {year}")


def _one_line(message: str) -> str:
    """The message on one line, whatever a value quoted in it contains."""
    return " ".join(message.splitlines())


def _read_or_exit(file: str) -> str:
    """The UTF-8 text of `file` (`-`: stdin), or exit 2 with one line naming the file. Bytes,
    then UTF-8: the text stdin of a C locale would let invalid bytes through."""
    import sys
    from pathlib import Path

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        _fail(f"cannot read {file}: {' '.join(str(e).split())}")


@app.command("allocate")
def allocate_sharing(
    file: Annotated[
        str, typer.Argument(metavar="FILE.json", help="A slot's members as JSON; - reads stdin.")
    ],
) -> None:
    """Allocate one slot's community production by an energy-sharing key; print JSON.

    Invalid input exits with code 2 and one line on stderr naming the member at fault.
    """
    import json

    from market.sharing import SharingInputError, allocate
    from market.sharing_io import allocation_to_json, parse_sharing_text

    text = _read_or_exit(file)
    try:
        parsed = parse_sharing_text(text)
    except SharingInputError as e:
        _fail(str(e))
    typer.echo(json.dumps(allocation_to_json(allocate(parsed.members, parsed.key)), indent=2))


export_app = typer.Typer(help="Files for DSOs and regulators.", no_args_is_help=True)
app.add_typer(export_app, name="export")
import_app = typer.Typer(
    help="Check and read files from DSOs and regulators.", no_args_is_help=True
)
app.add_typer(import_app, name="import")

NetworkOption = Annotated[
    str, typer.Option(help="Network id: deployments/<id>.json and brownie's network entry.")
]
CommunityFile = Annotated[
    str, typer.Option("--community", help="The community file (TOML) with the members' CUPS.")
]
YearOption = Annotated[int, typer.Option(help="The calendar year (8,760 or 8,784 hours).")]


def _community_or_exit(path: str) -> Community:
    from pathlib import Path

    from sim.community import CommunityFileError, load_community

    try:
        return load_community(Path(path))
    except CommunityFileError as e:
        _fail(_one_line(str(e)))


@export_app.command("coefficients")
def export_coefficients(
    community: CommunityFile,
    year: YearOption,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Write here instead of stdout (CAU_YEAR.txt).")
    ] = "-",
) -> None:
    """Spain's hourly coefficient file of a community's static schedule: one line
    `CUPS;hour;coefficient` per participant (member with a share) and hour of the year, six
    decimals, every hour summing to exactly 1. A community without a static key or a
    participant without a CUPS exits 2."""
    import sys
    from pathlib import Path

    from market.coefficients import CoefficientFileError, render_coefficients

    spec = _community_or_exit(community)
    _check_year(year)
    try:
        text = render_coefficients(spec.static_schedule(year), spec.cups_by_member_id(), year)
    except (CoefficientFileError, ValueError) as e:
        _fail(f"{spec.name}: {_one_line(str(e))}")
    if output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="ascii", newline="")
    except OSError as e:
        typer.echo(f"error: cannot write {output}: {' '.join(str(e).split())}", err=True)
        raise typer.Exit(code=1) from e


MAX_EXPORT_DAYS = 366
"""The longest range `export allocation` writes in one file (a year, leap or not)."""


def _utc_day_or_exit(value: str, option: str) -> int:
    """A `YYYY-MM-DD` day's 00:00 UTC in unix seconds, or exit 2 with one line."""
    import re
    from datetime import UTC, datetime

    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("not YYYY-MM-DD")
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as e:
        _fail(f"{option} {value!r} is not a date YYYY-MM-DD ({e})")
    return int(day.timestamp())


@export_app.command("allocation")
def export_allocation(
    from_day: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD (included).")],
    to_day: Annotated[
        str, typer.Option("--to", help="UTC day after the last one, YYYY-MM-DD (excluded).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="csv (default) or json.")] = "csv",
    network: Annotated[
        str | None,
        typer.Option(help="Network id (deployments/<id>.json); default: the one the index holds."),
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="Event index database URL (default settings.index_db_url).")
    ] = None,
) -> None:
    """A sharing community's allocation per metering point and slot (G.01..P.01), from the index.

    One row per metering point and slot of a `sharing` deployment starting in [--from 00:00
    UTC, --to 00:00 UTC), at most 366 days, with Austria's energy-community figures G.01
    (consumption or production), G.01T (participating), G.02 (allotment), G.03 (allocated),
    P.01 (surplus to the grid) in Wh and the money in n€. Bad input exits 2 with one line."""
    import sys
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from chain.calendar import read_calendar
    from chain.node import NodeError
    from gridshare import wiring
    from gridshare.settings import load_settings
    from indexer.allocation import (
        AllocationIndexError,
        allocation_rows,
        index_info,
        settled_through,
        write_csv,
        write_json,
    )

    start = _utc_day_or_exit(from_day, "--from")
    end = _utc_day_or_exit(to_day, "--to")
    if start >= end:
        _fail(f"--from {from_day} must be before --to {to_day}")
    if end - start > MAX_EXPORT_DAYS * 86_400:
        _fail(
            f"{from_day}..{to_day} is {(end - start) // 86_400} days, more than "
            f"{MAX_EXPORT_DAYS}: export it in parts"
        )
    if fmt not in ("csv", "json"):
        _fail(f"--format must be csv or json, not {fmt!r}")
    settings = load_settings().with_options(index_db_url=db)
    url = settings.index_db_url
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not (
            parsed.database and Path(parsed.database).is_file()
        ):
            raise AllocationIndexError(f"{url}: no such SQLite file")
        engine = wiring.index_engine(settings)
        info = index_info(engine, url)
    except (AllocationIndexError, ArgumentError, SQLAlchemyError) as e:
        _fail(_one_line(str(e)))
    if network is not None and network != info.network:
        _fail(f"{url} indexes network {info.network}, not {network}")
    try:
        node = wiring.one_shot_node(settings, info.network)
        node.check_chain()
        calendar = read_calendar(node)
    except NodeError as e:
        _fail(_one_line(str(e)))
    if node.manifest.chain_id != info.chain_id:
        _fail(
            f"{url} indexes chain {info.chain_id}, network {info.network} is chain "
            f"{node.manifest.chain_id}"
        )
    slots = calendar.slots_starting_in(start, end)
    last = settled_through(engine)
    if slots and (last is None or last < slots[-1]):
        typer.echo(
            f"note: the index holds settled slots up to {'none' if last is None else last}; "
            f"slots {slots.start}..{slots[-1]} asked for",
            err=True,
        )
    writer = write_csv if fmt == "csv" else write_json
    writer(allocation_rows(engine, calendar, slots), sys.stdout)


@import_app.command("coefficients")
def import_coefficients(
    file: Annotated[str, typer.Argument(metavar="FILE.txt", help="The file; - reads stdin.")],
    community: CommunityFile,
    year: YearOption,
) -> None:
    """Check Spain's hourly coefficient file against a community: every member's CUPS and every
    hour present once, coefficients 0..1 with six decimals, every hour summing to exactly 1.
    Prints one summary line; a bad file exits 2 with one line naming line, hour and CUPS."""
    from market.coefficients import CoefficientFileError, hours_in_year, parse_coefficients

    spec = _community_or_exit(community)
    _check_year(year)
    text = _read_or_exit(file)
    cups = {code: member_id for member_id, code in spec.cups_by_member_id().items()}
    try:
        schedule = parse_coefficients(text, cups, year)
    except CoefficientFileError as e:
        label = "stdin" if file == "-" else file
        _fail(f"{label}: {_one_line(str(e))}")
    participants = sum(any(shares) for shares in schedule.values())
    typer.echo(
        f"ok: {participants} CUPS with a share, {hours_in_year(year)} hours of {year}, "
        "every hour sums to 1"
    )


@app.command("simulate-sharing")
def simulate_sharing_command(
    community: Annotated[
        str, typer.Argument(metavar="COMMUNITY.toml", help="A community with a [sharing] section.")
    ],
    days: Annotated[int, typer.Option(min=1, max=366, help="Days from its start date.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (Wh) instead.")] = False,
    on_chain: Annotated[
        bool,
        typer.Option(
            "--chain",
            help="Run it on a private anvil: contracts in the sharing mode, meters signing, "
            "the oracle relaying, the matcher settling; then bills, BaU and the audit.",
        ),
    ] = False,
    out: Annotated[
        str | None,
        typer.Option(help="Report folder (default: reports/<community name>-sharing)."),
    ] = None,
) -> None:
    """Allocate a sharing community's days by its key, without a chain: per member its
    consumption, what the community covered (G.03), what came from the grid, what it exported
    to the community and to the grid, and the community's self-sufficiency. With --chain the
    days run through the contracts, and the bills against BaU and the audit follow. Either way
    an HTML report with the coverage per slot is written (its path printed last; on stderr
    with --json)."""
    import json
    from pathlib import Path

    from sim.sharing import allocate_run, format_summary, member_net_export_wh, summary_to_json
    from sim.sharingreport import offline_report, write_sharing_report

    spec = _community_or_exit(community)
    if spec.sharing is None:
        _fail(f"{community}: no [sharing] section")
    directory = Path(out) if out else Path("reports") / f"{spec.name}-sharing"
    if on_chain:
        _sharing_on_chain(spec, days, directory)
        return
    exports = member_net_export_wh(spec, days)
    report = offline_report(spec, exports, allocate_run(spec, exports))
    if as_json:
        typer.echo(json.dumps(summary_to_json(report.summary), indent=2))
    else:
        typer.echo(format_summary(report.summary), nl=False)
    path = write_sharing_report(report, directory)
    typer.echo(f"report: {path}", err=as_json)


def _sharing_on_chain(spec: Community, days: int, directory: Path) -> None:
    import tempfile
    from pathlib import Path

    from gridshare.settings import load_settings
    from sim.sharingchain import format_run, run_sharing_on_chain
    from sim.sharingreport import chain_report, write_sharing_report

    def progress(done: int, total: int) -> None:
        if done % 24 == 0 or done == total:
            typer.echo(f"  {done}/{total} slots settled on the chain", err=True)

    with tempfile.TemporaryDirectory(prefix="gridshare-sharing-") as tmp:
        try:
            run = run_sharing_on_chain(spec, days, Path(tmp), load_settings(), progress)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
    typer.echo(format_run(run), nl=False)
    typer.echo(f"report: {write_sharing_report(chain_report(run), directory)}")
    if not (run.audit.ok and run.matches_rule and run.matches_offline_totals):
        raise typer.Exit(code=1)


from sim.cli import dashboard_command, flex_command, simulate_command  # noqa: E402

app.command("simulate")(simulate_command)
app.command("simulate-flex")(flex_command)
app.command("dashboard")(dashboard_command)

matcher_app = typer.Typer(
    help="The matcher service: clears and settles each slot after its gate closure.",
    no_args_is_help=True,
)
app.add_typer(matcher_app, name="matcher")

from gridshare.cli.index import index_app  # noqa: E402

app.add_typer(index_app, name="index")


@matcher_app.command("run")
def matcher_run(
    network: NetworkOption,
    once: Annotated[
        bool, typer.Option("--once", help="Settle every slot due now, then exit.")
    ] = False,
    poll: Annotated[
        float | None,
        typer.Option(help="Seconds between passes (default: settings.matcher_poll_seconds)."),
    ] = None,
) -> None:
    """Settle every slot past its gate closure, in order, exactly once; then keep following.

    Stateless: restarted at any point, it re-reads from the chain what is left to do.
    """
    import logging

    from chain.node import NodeError
    from gridshare import wiring
    from gridshare.settings import configure_logging, load_settings

    configure_logging()
    settings = load_settings()
    try:
        matcher = wiring.matcher(settings, network)
        if once:
            matcher.run_once()
        else:
            matcher.run_forever(poll if poll is not None else settings.matcher_poll_seconds)
    except NodeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=1) from e
    except KeyboardInterrupt:
        logging.getLogger("matcher").info("stopped")


@app.command("api")
def api_serve(
    network: NetworkOption,
    db: Annotated[
        str | None, typer.Option(help="Event index database URL (default settings.index_db_url).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Default: settings.api_host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: settings.api_port.")] = None,
) -> None:
    """Serve the wallet API (OpenAPI at /docs)."""
    from gridshare.cli.api import serve

    serve(network, db=db, host=host, port=port)


from gridshare.cli.oracle import oracle_app  # noqa: E402

app.add_typer(oracle_app, name="oracle")

from gridshare.cli.meter import meter_app  # noqa: E402

app.add_typer(meter_app, name="meter")

from gridshare.cli.audit import audit_command  # noqa: E402

app.command("audit")(audit_command)
