"""Adding up the counters of a service's passes (IngestStats, RelayStats)."""

from __future__ import annotations


def accumulate(total: object, part: object) -> None:
    """Add `part`'s int fields to `total`'s, and merge its dicts of counts."""
    for name, value in vars(part).items():
        if isinstance(value, int):
            setattr(total, name, getattr(total, name) + value)
        elif isinstance(value, dict):
            merged = getattr(total, name)
            for k, v in value.items():
                merged[k] = merged.get(k, 0) + v
