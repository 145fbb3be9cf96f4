"""`gridshare audit --network <id>`: re-derive everything from the chain's events and report.

Exit codes: 0 no discrepancy, 1 at least one discrepancy, 2 usage or connection error.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer


def audit_command(
    network: Annotated[
        str, typer.Option(help="Network id: deployments/<id>.json and brownie's network entry.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON object.")
    ] = False,
    block: Annotated[
        int | None, typer.Option(help="Audit the chain as of this block (default: the latest).")
    ] = None,
) -> None:
    """Rebuild every slot, payment, debt and digest from chain events alone and check them
    against the rulebook and the tariff in force. Exits 1 on any discrepancy."""
    from audit.checks import audit
    from audit.fetch import fetch_events, fetch_state
    from chain.node import NodeError
    from gridshare import wiring
    from gridshare.settings import load_settings

    settings = load_settings()
    try:
        node = wiring.one_shot_node(settings, network)
        node.check_chain()
        head = node.block_number()
        at = head if block is None else block
        if not node.manifest.deployed_at_block <= at <= head:
            typer.echo(
                f"error: block {at} is not between the deployment block "
                f"{node.manifest.deployed_at_block} and the head {head}",
                err=True,
            )
            raise typer.Exit(code=2)
        events = fetch_events(node, at, settings.audit_batch_blocks)
        state = fetch_state(node, events, at)
    except NodeError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    report = audit(events, state)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else report.to_text())
    raise typer.Exit(code=0 if report.ok else 1)
