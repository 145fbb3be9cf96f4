"""Meter sources. Each yields `SourceItem`s: a timestamped cumulative `Sample`, or a `Rejected`
input (corrupt frame, unparsable line) that the oracle quarantines.

A source is named by a spec string:
  dsmr-serial:/dev/ttyUSB0   DSMR P1 port (serial settings of the configured DSMR version)
  dsmr-tcp:HOST:PORT          a P1-to-network dongle
  dsmr-file:PATH              a file of telegrams (as written by a P1 logger)
  sml-file:PATH               SML frames, one per line: "<ISO-8601 or unix time> <frame hex>"
  csv:PATH                    timestamp,meter_id,import_wh_total,export_wh_total
  sim:CONFIG                  simulated meters described by a TOML file
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from oracle.samples import SourceItem
from oracle.sources.csvfile import read_csv
from oracle.sources.dsmr import DSMR_SPECS, read_dsmr_file, read_dsmr_serial, read_dsmr_tcp
from oracle.sources.sim import read_sim
from oracle.sources.sml import read_sml_file


class SourceSpecError(ValueError):
    """The source spec names no known source or is malformed."""


def open_source(
    spec: str, *, dsmr_version: str = "v5", clock: Callable[[], int] | None = None
) -> Iterator[SourceItem]:
    """The items of the source named by `spec` (see the module docstring). `clock` gives the
    receive time for DSMR versions whose telegrams carry none (2.2, 3)."""
    kind, sep, where = spec.partition(":")
    if not sep or not where:
        raise SourceSpecError(f"source {spec!r}: expected KIND:WHERE")
    if kind.startswith("dsmr-") and dsmr_version not in DSMR_SPECS:
        raise SourceSpecError(f"DSMR version {dsmr_version!r}: one of {sorted(DSMR_SPECS)}")
    if kind == "dsmr-serial":
        return read_dsmr_serial(where, dsmr_version, clock)
    if kind == "dsmr-tcp":
        host, _, port = where.rpartition(":")
        if not host or not port.isdigit():
            raise SourceSpecError(f"source {spec!r}: expected dsmr-tcp:HOST:PORT")
        return read_dsmr_tcp(host, int(port), dsmr_version, clock)
    if kind == "dsmr-file":
        return read_dsmr_file(Path(where), dsmr_version, clock)
    if kind == "sml-file":
        return read_sml_file(Path(where))
    if kind == "csv":
        return read_csv(Path(where))
    if kind == "sim":
        return read_sim(Path(where))
    raise SourceSpecError(
        f"source {spec!r}: unknown kind {kind!r} (dsmr-serial, dsmr-tcp, dsmr-file, sml-file,"
        " csv, sim)"
    )
