"""The rulebook as pure code (no I/O, integer units): clearing, fees, imbalance, bills, BaU."""
