"""Gas of settleImbalance, settleRequest and flexibility offers (see bench/gas_flex.py)."""

from bench import gas_flex


def main() -> None:
    gas_flex.main()
