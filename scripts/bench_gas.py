"""`make bench`: gas benchmark (see bench/gas.py); brownie only runs scripts from scripts/."""

from bench import gas


def main() -> None:
    gas.main()
