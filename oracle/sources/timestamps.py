"""Timestamps in source files: ISO-8601 with a zone, or unix seconds. Pure."""

from __future__ import annotations

from datetime import datetime


def parse_timestamp(text: str) -> int:
    """Unix seconds from `text`; ISO-8601 times must name their zone (no guessing local time)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone")
    return int(moment.timestamp())
