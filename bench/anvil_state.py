"""What a block costs anvil as its state grows: the time of an empty block (`evm_mine`) against
the number of storage words the chain holds, live and written back to zero.

Why: a day of bench/year.py's slots takes longer each day although every view call stays flat
(bench/year.py, NOTES). This isolates the node's part on an otherwise empty anvil with the
benchmarks' own flags (`--prune-history 64`): storage words are set with `anvil_setStorageAt`
on one account, `--words` at a time, and after each step 20 empty blocks are timed. Then every
word is set back to zero and the blocks are timed again, which tells whether dropping a slot's
records once nothing reads them would help the node (it would if zeroed words cost nothing).

    .venv/bin/python -m bench.anvil_state --record
"""

from __future__ import annotations

import argparse
import time

from bench.report import show_and_record
from bench.year import PRUNE_HISTORY
from chain.devchain import bare_node, free_port, start_ganache, stop_process, storage_words
from chain.node import Node

SECTION = "anvil: a block's cost against the state's storage words (issue 16)"
ACCOUNT = "0x" + "11" * 20
BLOCKS = 20


def _block_ms(node: Node) -> float:
    """The mean time of an empty block, ms."""
    started = time.perf_counter()
    for _ in range(BLOCKS):
        node.make_request("evm_mine", [])
    return 1000 * (time.perf_counter() - started) / BLOCKS


def _set(node: Node, words: range, value: int) -> None:
    for key in words:
        node.make_request("anvil_setStorageAt", [ACCOUNT, hex(key), f"0x{value:064x}"])


def measure(steps: list[int]) -> dict[str, object]:
    port = free_port()
    process = start_ganache(port, "anvil", extra=PRUNE_HISTORY)
    try:
        node = bare_node(port)
        points: list[tuple[int, float]] = [(0, _block_ms(node))]
        held = 0
        for target in steps:
            _set(node, range(held, target), 1)
            held = target
            points.append((held, _block_ms(node)))
        _set(node, range(held), 0)
        zeroed_ms = _block_ms(node)
        kept = sum(storage_words(node).values())
    finally:
        stop_process(process, timeout=10)
    # Least squares of block ms against words: the cost of one word in every block.
    n = len(points)
    mean_w = sum(w for w, _ in points) / n
    mean_t = sum(t for _, t in points) / n
    slope = sum((w - mean_w) * (t - mean_t) for w, t in points) / sum(
        (w - mean_w) ** 2 for w, _ in points
    )
    return {
        "empty block ms, by live storage words": {f"{w:,}": round(t, 1) for w, t in points},
        f"empty block ms, the {held:,} words written back to zero": round(zeroed_ms, 1),
        "words anvil still holds after zeroing (anvil_dumpState)": f"{kept:,}",
        "µs per storage word per block (least squares, live words)": round(1000 * slope, 2),
    }


NOTES = """On a private anvil (the benchmarks' flags, `--prune-history 64`), storage words are set
on one account with `anvil_setStorageAt` and the mean of 20 empty blocks (`evm_mine`) is timed after
each step; then every word is written back to zero and the blocks are timed again.

A block's cost grows in proportion to the words the chain holds, whatever account holds them
and whether any changed: anvil computes the state root over the whole state at every block. A
word written back to zero stays in anvil's state (`anvil_dumpState` still lists it) and costs
a block about as much as a live one. So on anvil, deleting a slot's records once nothing reads
them would not make the year faster; only writing fewer new words (and mining fewer blocks)
does. bench/year.py reports the words its run left (`storage words at the end`)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--words", type=str, default="20000,50000", help="steps of live storage words"
    )
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    steps = [int(x) for x in args.words.split(",")]
    command = "make bench-anvil-state  (python -m bench.anvil_state --record)"
    show_and_record(SECTION, command, measure(steps), NOTES, save=args.record)


if __name__ == "__main__":
    main()
