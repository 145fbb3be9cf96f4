"""Where the gas of the all-in path goes, by instruction and by call: `python -m bench.opcodes`.

Runs `bench.allin`'s two rounds (`--members`, `--slots`) on an anvil started with
`--steps-tracing`, then replays the first transaction of each settling function of the measured
round (found through `Node.mined_calls`) with `debug_traceTransaction`: the gas of each
instruction summed by call depth (1: the called contract itself, 2: everything it calls) and,
from the call tracer, the gas of each call the contract makes, by callee and selector (the
precompiles, e.g. ecrecover at address 1, shown as such). A development aid for finding what to
optimise (docs/decisions.md, "Compilation"), not a recorded figure: the step trace of a large
settlement is hundreds of megabytes, so keep `--members` small (30 by default).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.allin import deployed_round
from chain.node import Node
from gridshare.settings import load_settings

CALLS = frozenset({"CALL", "STATICCALL", "DELEGATECALL"})


def by_instruction(trace: dict[str, Any]) -> Counter[tuple[int, str]]:
    """Gas per (depth, opcode), depth 2 standing for every depth below the transaction's target.
    Call instructions are left out: their cost includes the gas they forward."""
    out: Counter[tuple[int, str]] = Counter()
    for step in trace["structLogs"]:
        if step["op"] not in CALLS:
            out[min(int(step["depth"]), 2), step["op"]] += int(step["gasCost"])
    return out


def by_call(trace: dict[str, Any], names: dict[int, str]) -> tuple[Counter[str], Counter[str]]:
    """Count and gas of the target's own calls, keyed `callee:selector`."""
    count: Counter[str] = Counter()
    gas: Counter[str] = Counter()
    for call in trace.get("calls", []):
        to = int(call["to"], 16)
        # A precompile's input is data, not a selector (ecrecover's is the hash it recovers).
        key = f"precompile {to}" if to < 0x100 else f"{names.get(to, hex(to))}:{call['input'][:10]}"
        count[key] += 1
        gas[key] += int(call["gasUsed"], 16)
    return count, gas


def first_transactions(node: Node, start: int) -> dict[str, str]:
    """The first transaction of each deployment function mined from block `start` to the
    head, by `Contract.function`."""
    seen: dict[str, str] = {}
    for contract, function, _gas, tx_hash in node.mined_calls(start):
        seen.setdefault(f"{contract}.{function}", tx_hash)
    return seen


def report(node: Node, tx_hash: str, names: dict[int, str], members: int, top: int) -> list[str]:
    steps = node.make_request(
        "debug_traceTransaction",
        [tx_hash, {"disableStorage": True, "disableMemory": True, "disableStack": True}],
    )
    calls = node.make_request("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    gas = int(steps["gas"])
    lines = [f"gas {gas:,} ({gas / members:,.0f} per member)"]
    ops = by_instruction(steps)
    for (depth, op), used in ops.most_common(top):
        lines.append(f"  depth {depth} {op:<12} {used:>11,}")
    count, call_gas = by_call(calls, names)
    for key, used in call_gas.most_common():
        lines.append(f"  call {key:<40} x{count[key]:<5} {used:>11,}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=30)
    parser.add_argument("--slots", type=int, default=8, help="slots per round")
    parser.add_argument("--top", type=int, default=20, help="instructions shown per transaction")
    args = parser.parse_args(argv)
    with deployed_round(args.members, args.slots, load_settings(), ("--steps-tracing",)) as rounds:
        node = rounds.node
        rounds.run(range(0, args.slots))
        start = node.block_number() + 1
        rounds.run(range(args.slots, 2 * args.slots))
        names = {int(address, 16): name for name, address in node.manifest.contracts.items()}
        for key, tx_hash in first_transactions(node, start).items():
            print(f"=== {key}")
            print("\n".join(report(node, tx_hash, names, args.members, args.top)))


if __name__ == "__main__":
    main()
