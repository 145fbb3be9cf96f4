"""Household load and PV output per slot, in integer Wh, from data shipped with the packages.

* Load: demandlib's BDEW standard load profiles (h0, and the 2025 profiles h25, p25, s25),
  scaled to each household's annual consumption.
* PV: pvlib's PVWatts model on the typical meteorological year that pvlib ships in its package
  data (`pvlib/data/723170TYA.CSV`, TMY3 Greensboro NC), for each panel orientation.

Nothing is downloaded. Both are computed in floating point (physics, not money) and then turned
into integer Wh per slot by `largest_remainder`, per day, so that every day's total is the
correctly rounded daily energy and the same inputs give the same Wh on any machine.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from sim.community import Community, Household

WEATHER_FILE = "723170TYA.CSV"
DC_LOSSES = 0.14  # PVWatts default system losses (soiling, wiring, mismatch, ...)
INVERTER_EFFICIENCY = 0.96
TEMPERATURE_COEFFICIENT = -0.004  # per °C, crystalline silicon
ALBEDO = 0.2


def largest_remainder(values: Sequence[float]) -> list[int]:
    """Round non-negative `values` to integers whose sum is `round(sum(values))`.

    Each value is floored; the units still missing go one each to the largest fractional parts,
    ties to the earlier index. Deterministic, and no value moves by a whole unit or more."""
    if any(v < 0 or math.isnan(v) for v in values):
        raise ValueError("values must be non-negative numbers")
    floors = [math.floor(v) for v in values]
    target = round(math.fsum(values))
    missing = target - sum(floors)
    order = sorted(range(len(values)), key=lambda i: (-(values[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += 1
    return floors


def per_day_wh(kw_per_step: Sequence[float], step_minutes: int, slot_minutes: int) -> list[int]:
    """Average power per `step_minutes` (kW, a whole number of days) to integer Wh per slot,
    rounded per day with `largest_remainder`."""
    if slot_minutes % step_minutes and step_minutes % slot_minutes:
        raise ValueError(f"slot {slot_minutes} min and step {step_minutes} min do not nest")
    wh_per_step = [kw * 1000 * step_minutes / 60 for kw in kw_per_step]
    if slot_minutes >= step_minutes:  # several steps per slot: sum them
        k = slot_minutes // step_minutes
        slots = [math.fsum(wh_per_step[i : i + k]) for i in range(0, len(wh_per_step), k)]
    else:  # a step spans several slots: spread it evenly
        k = step_minutes // slot_minutes
        slots = [wh / k for wh in wh_per_step for _ in range(k)]
    per_day = 1440 // slot_minutes
    out: list[int] = []
    for start in range(0, len(slots), per_day):
        out += largest_remainder(slots[start : start + per_day])
    return out


# ---------------------------------------------------------------------------------------------
# Load (demandlib)


@lru_cache(maxsize=16)
def _load_kw_per_gwh(profile: str, first: date, days: int) -> tuple[float, ...]:
    """15-minute average power (kW) of `profile` scaled to 1 GWh a year (1e6 kWh)."""
    import pandas as pd
    from demandlib import bdew

    index = pd.date_range(first.isoformat(), periods=days * 96, freq="15min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if profile == "h0":
            years = sorted({first.year, (first + timedelta(days=days - 1)).year})
            parts = [
                bdew.ElecSlp(y).get_scaled_power_profiles({"h0": 1_000_000})["h0"] for y in years
            ]
            series = pd.concat(parts).reindex(index)
        else:
            cls = {"h25": bdew.H25, "p25": bdew.P25, "s25": bdew.S25}[profile]
            series = cls(index)
    if series.isna().any():
        raise ValueError(f"demandlib gave no {profile} values for some of {first} + {days} days")
    return tuple(float(v) for v in series.to_numpy())


def load_wh(household: Household, first: date, days: int, slot_minutes: int) -> list[int]:
    """The household's consumption per slot (Wh) for `days` days from `first`."""
    scale = household.annual_kwh / 1_000_000
    kw = [v * scale for v in _load_kw_per_gwh(household.profile, first, days)]
    return per_day_wh(kw, 15, slot_minutes)


# ---------------------------------------------------------------------------------------------
# PV (pvlib)


def weather_path() -> Path:
    import pvlib

    return Path(pvlib.__file__).parent / "data" / WEATHER_FILE


@dataclass(frozen=True)
class Weather:
    latitude: float
    longitude: float
    altitude: float
    name: str


@lru_cache(maxsize=1)
def _tmy() -> tuple[object, Weather]:
    import pvlib

    data, meta = pvlib.iotools.read_tmy3(str(weather_path()), map_variables=True)
    where = Weather(
        float(meta["latitude"]),
        float(meta["longitude"]),
        float(meta["altitude"]),
        str(meta["Name"]).strip('"'),
    )
    return data, where


def weather() -> Weather:
    return _tmy()[1]


@lru_cache(maxsize=64)
def _pv_kw_per_kwp_hourly(tilt: float, azimuth: float) -> dict[tuple[int, int], tuple[float, ...]]:
    """AC power (kW per kWp) for each hour of the TMY, keyed by (month, day): 24 values, hour
    [h, h+1) local standard time. TMY3 rows are labelled by the hour's end."""
    import pandas as pd
    import pvlib

    raw, where = _tmy()
    data: pd.DataFrame = raw
    mid = data.index - pd.Timedelta(minutes=30)  # the middle of each hour
    solpos = pvlib.solarposition.get_solarposition(
        mid, where.latitude, where.longitude, altitude=where.altitude
    )
    dni_extra = pvlib.irradiance.get_extra_radiation(mid)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt,
        azimuth,
        solpos["apparent_zenith"].to_numpy(),
        solpos["azimuth"].to_numpy(),
        data["dni"].to_numpy(),
        data["ghi"].to_numpy(),
        data["dhi"].to_numpy(),
        dni_extra=dni_extra.to_numpy(),
        albedo=ALBEDO,
        model="haydavies",
    )
    poa_global = pd.Series(poa["poa_global"], index=data.index).fillna(0.0).clip(lower=0.0)
    cell = pvlib.temperature.faiman(poa_global, data["temp_air"], data["wind_speed"])
    dc = pvlib.pvsystem.pvwatts_dc(poa_global, cell, 1.0, TEMPERATURE_COEFFICIENT)
    ac = (dc * (1 - DC_LOSSES) * INVERTER_EFFICIENCY).clip(lower=0.0).fillna(0.0)
    out: dict[tuple[int, int], list[float]] = {}
    for stamp, value in zip(mid, ac.to_numpy(), strict=True):
        out.setdefault((stamp.month, stamp.day), [0.0] * 24)[stamp.hour] = float(value)
    return {k: tuple(v) for k, v in out.items()}


def pv_wh(household: Household, first: date, days: int, slot_minutes: int) -> list[int]:
    """The household's PV output per slot (Wh): the TMY's same calendar day (29 February uses
    28 February), hourly energy spread evenly over the hour's slots."""
    per_slot = days * 1440 // slot_minutes
    if household.pv_kwp == 0:
        return [0] * per_slot
    table = _pv_kw_per_kwp_hourly(household.tilt, household.azimuth)
    kw: list[float] = []
    for d in range(days):
        day = first + timedelta(days=d)
        key = (day.month, 28 if (day.month, day.day) == (2, 29) else day.day)
        kw += [v * household.pv_kwp for v in table[key]]
    return per_day_wh(kw, 60, slot_minutes)


@dataclass(frozen=True)
class HouseholdProfile:
    load_wh: list[int]
    pv_wh: list[int]


def community_profiles(community: Community, days: int) -> dict[str, HouseholdProfile]:
    """Load and PV per slot for every household, `days` days from the community's start date."""
    first = community.start_date
    return {
        h.name: HouseholdProfile(
            load_wh(h, first, days, community.slot_minutes),
            pv_wh(h, first, days, community.slot_minutes),
        )
        for h in community.households
    }
