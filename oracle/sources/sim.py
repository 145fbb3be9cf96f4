"""Simulated meters: the same cumulative registers a real meter reports, from energies chosen by
a simulator or from a small TOML description (for `--source sim:CONFIG`). Integer Wh throughout.

`SimulatedMeter.slot_samples` spreads a slot's import and export over evenly spaced samples, the
last one exactly on the slot's end boundary, so the oracle's interpolation recovers exactly the
energies given: what the simulator decides is what settles.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.samples import Rejected, Sample, SourceItem
from oracle.sources.timestamps import parse_timestamp

# Relative weight of each hour in a day's household load (a residential evening-peak shape).
LOAD_SHAPE = (
    25, 20, 18, 17, 17, 20, 32, 45, 45, 38, 36, 38, 42, 40, 37, 38, 45, 58, 70, 72, 65, 55, 42, 32,
)  # fmt: skip
# Clear-sky PV output per hour as per mille of peak power (solar noon at 12:00 UTC).
PV_SHAPE = (
    0, 0, 0, 0, 0, 0, 20, 120, 300, 520, 720, 880,
    960, 940, 850, 700, 500, 280, 100, 10, 0, 0, 0, 0,
)  # fmt: skip


@dataclass
class SimulatedMeter:
    """A meter's two registers, moved slot by slot."""

    meter: str
    import_wh: int = 0
    export_wh: int = 0

    def sample(self, timestamp: int) -> Sample:
        return Sample(self.meter, timestamp, self.import_wh, self.export_wh)

    def slot_samples(
        self, start: int, slot_seconds: int, import_wh: int, export_wh: int, per_slot: int = 1
    ) -> list[Sample]:
        """Samples inside the slot [start, start + slot_seconds) that add `import_wh` and
        `export_wh` to the registers; the last is on the end boundary."""
        if import_wh < 0 or export_wh < 0 or per_slot < 1 or slot_seconds % per_slot:
            raise ValueError("energies must be >= 0 and per_slot must divide the slot")
        out = []
        base_imp, base_exp = self.import_wh, self.export_wh
        step = slot_seconds // per_slot
        for k in range(1, per_slot + 1):
            self.import_wh = base_imp + import_wh * k // per_slot
            self.export_wh = base_exp + export_wh * k // per_slot
            out.append(self.sample(start + k * step))
        return out


@dataclass(frozen=True)
class SimMeterSpec:
    name: str
    load_w: int  # mean household load
    pv_peak_w: int  # PV output at solar noon on a clear day (0: no PV)


def slot_energy(spec: SimMeterSpec, start: int, slot_seconds: int) -> tuple[int, int]:
    """(import, export) Wh of the slot starting at `start`: the hour's load and PV, netted."""
    hour = start % 86_400 // 3600
    load = spec.load_w * 24 * LOAD_SHAPE[hour] * slot_seconds // (sum(LOAD_SHAPE) * 3600)
    pv = spec.pv_peak_w * PV_SHAPE[hour] * slot_seconds // (1000 * 3600)
    return max(0, load - pv), max(0, pv - load)


def _config(path: Path) -> tuple[int, int, int, int, list[SimMeterSpec]]:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    try:
        start = parse_timestamp(str(data["start"]))
        slots, slot_seconds = int(data["slots"]), int(data.get("slot_seconds", 1800))
        per_slot = int(data.get("samples_per_slot", 1))
        meters = [
            SimMeterSpec(str(m["name"]), int(m["load_w"]), int(m.get("pv_peak_w", 0)))
            for m in data["meters"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad simulation config: {exc}") from exc
    return start, slots, slot_seconds, per_slot, meters


def read_sim(path: Path) -> Iterator[SourceItem]:
    """Every meter's samples, slot by slot from `start` (each meter first reports at `start`).
    Positions are sample ordinals: the output is deterministic, so a restart resumes exactly."""
    try:
        start, slots, slot_seconds, per_slot, specs = _config(path)
    except (OSError, ValueError) as exc:
        yield SourceItem(None, Rejected(str(exc), str(path)))
        return
    meters = [SimulatedMeter(spec.name) for spec in specs]
    position = 0
    for meter in meters:
        position += 1
        yield SourceItem(position, meter.sample(start))
    for k in range(slots):
        slot_start = start + k * slot_seconds
        for spec, meter in zip(specs, meters, strict=True):
            imp, exp = slot_energy(spec, slot_start, slot_seconds)
            for sample in meter.slot_samples(slot_start, slot_seconds, imp, exp, per_slot):
                position += 1
                yield SourceItem(position, sample)
