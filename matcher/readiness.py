"""When a slot may settle against the meters: the rule both meter settlements enforce
(ImbalanceSettlement and SharingSettlement revert a slot whose readings may still come in), read
from the chain for the matcher's steps (matcher/service.py, matcher/sharing.py)."""

from __future__ import annotations

from chain.gateway import CommunityGateway, ImbalanceGateway, ReadingsGateway, SharingGateway


def meters_ready(
    ledger: ImbalanceGateway | SharingGateway,
    readings: ReadingsGateway,
    community: CommunityGateway,
    slot: int,
    delivered: int,
    now: int,
) -> bool:
    """Whether `slot`, whose delivery ends at `delivered` (unix seconds), may settle against the
    meters at `now`: its delivery is over and every registered meter has reported, or the
    `ledger`'s reading deadline after delivery has passed (the contracts' own rule)."""
    if now < delivered:
        return False
    count = readings.reading_count(slot)
    meters = community.meter_count()
    deadline = ledger.reading_deadline_seconds()
    return count >= meters or now >= delivered + deadline
