"""The declarative community file (TOML): households, the community battery, tariff, calendar.

A file is parsed into frozen, validated pydantic models; anything wrong (a typo in a key, a
negative capacity, lessee shares that do not add up to 100 %, an unknown household named as a
lessee) raises `CommunityFileError` naming the file and the field, before anything is deployed.
Money and prices are integer n€ and n€/Wh as everywhere else; physical sizes that are not
settled (kWp, orientation) may be decimals.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gridshare.settings import Settings, TariffSettings
from market.coefficients import HOURS_PER_DAY, MAX_WEIGHT, cups_problem, daily_schedule
from market.sharing import Key

LoadProfile = Literal["h0", "h25", "p25", "s25"]
"""BDEW standard load profiles: h0 (household, 1999), and the 2025 profiles h25 (household),
p25 (household with PV) and s25 (household with PV and battery)."""


class CommunityFileError(ValueError):
    """A community file that cannot be used; the message names the file and what is wrong."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HomeBattery(_Frozen):
    capacity_wh: int = Field(gt=0)
    power_w: int = Field(gt=0)
    """Most it charges or discharges, in W (per slot: power_w · slot hours Wh)."""


class Household(_Frozen):
    name: str = Field(min_length=1, max_length=40)
    annual_kwh: int = Field(gt=0, le=1_000_000)
    profile: LoadProfile = "h0"
    pv_kwp: float = Field(default=0.0, ge=0, le=1000)
    azimuth: float = Field(default=180.0, ge=0, lt=360)
    """Degrees from north, clockwise (180 = south)."""
    tilt: float = Field(default=30.0, ge=0, le=90)
    battery: HomeBattery | None = None
    cups: str | None = None
    """The supply point code (CUPS), needed for Spain's coefficient file."""
    participation_pct: int = Field(default=100, ge=1, le=100)
    """Energy sharing: the percentage of the metering point that takes part in the community."""
    share_weight: int | None = Field(default=None, ge=0, le=MAX_WEIGHT)
    """Static key: the member's weight, the same in every hour (0 for a pure producer)."""
    share_weights: tuple[int, ...] | None = Field(
        default=None, min_length=HOURS_PER_DAY, max_length=HOURS_PER_DAY
    )
    """Static key: the member's weight for each hour of the day (24 values, 00:00 first)."""

    @model_validator(mode="after")
    def _sharing_fields(self) -> Household:
        if self.cups is not None:
            problem = cups_problem(self.cups)
            if problem is not None:
                raise ValueError(f"cups {self.cups!r}: {problem}")
        if self.share_weight is not None and self.share_weights is not None:
            raise ValueError("give share_weight or share_weights, not both")
        if self.share_weights is not None and not all(
            0 <= w <= MAX_WEIGHT for w in self.share_weights
        ):
            raise ValueError(f"share_weights must be integers 0..{MAX_WEIGHT}")
        return self

    @property
    def hourly_weights(self) -> tuple[int, ...] | None:
        """The static key's weight for each hour of the day, or None if none is declared."""
        if self.share_weight is not None:
            return (self.share_weight,) * HOURS_PER_DAY
        return self.share_weights

    @model_validator(mode="after")
    def _profile_fits(self) -> Household:
        # p25 / s25 describe what a PV (+ battery) household draws from the grid: the PV and the
        # battery are already in them, so simulating them again would count them twice.
        if self.profile in ("p25", "s25") and (self.pv_kwp > 0 or self.battery is not None):
            raise ValueError(
                f"profile {self.profile} already includes the household's PV"
                " (and battery); use h0 or h25 with pv_kwp / battery, or pv_kwp = 0"
            )
        return self

    @property
    def role(self) -> str:
        """The member role registered on-chain (consumers may only buy)."""
        if self.battery is not None:
            return "prosumager"
        return "prosumer" if self.pv_kwp > 0 else "consumer"


class Lessee(_Frozen):
    household: str
    share_bps: int = Field(gt=0, le=10_000)


class CommunityBattery(_Frozen):
    """The DSO's battery: a member with its own wallet, leased to a pool of households."""

    name: str = "community battery"
    capacity_wh: int = Field(gt=0)
    power_w: int = Field(gt=0)
    lease_per_period: int = Field(ge=0)
    """n€ per billing period for the whole battery; each lessee pays its share."""
    lessees: tuple[Lessee, ...] = ()
    float_eur: int = Field(default=50, ge=0)
    """Tokens the battery's wallet starts with, to escrow its buy orders."""

    @model_validator(mode="after")
    def _shares(self) -> CommunityBattery:
        if self.lessees and sum(lessee.share_bps for lessee in self.lessees) != 10_000:
            raise ValueError("lessee shares must add up to 10000 bps (100 %)")
        names = [lessee.household for lessee in self.lessees]
        if len(set(names)) != len(names):
            raise ValueError("a household is listed twice as a lessee")
        return self


class Strategy(_Frozen):
    """Parameters of the default home-energy-manager strategy (sim.agents)."""

    lcoe_price: int = Field(default=90_000, gt=0)
    """A PV owner's cost floor (levelised cost of its energy), n€/Wh."""
    battery_buy_price: int = Field(default=110_000, gt=0)
    """Most the community battery pays when charging from local surplus, n€/Wh."""
    battery_sell_price: int = Field(default=180_000, gt=0)
    """Least the community battery accepts at peak, n€/Wh."""
    peak_hours: tuple[int, int] = (17, 22)
    """Local hours [from, to) in which the community battery sells."""


class Sharing(_Frozen):
    """Energy sharing (rulebook, "Energy sharing"): how each slot's community production is
    allocated. Members' participation factors and static weights are on the households."""

    key: Key = Key.DYNAMIC


class Community(_Frozen):
    name: str
    start_date: date
    """The profile date of the first simulated day (load and weather of that day of year)."""
    slot_minutes: Literal[15, 30, 60] = 30
    """Slot length; 60-minute slots keep long scenarios short (e.g. the flexibility test)."""
    gate_closure_minutes: int = Field(default=5, ge=0, le=60)
    period_days: int = Field(default=30, gt=0)
    """Billing period: service fee, battery lease and result, profit sharing."""
    lock_in_days: int = Field(default=365, ge=0)
    exit_penalty: int = Field(default=20_000_000_000, ge=0)
    profit_share_bps: int = Field(default=5000, ge=0, le=10_000)
    top_up_eur: int = Field(default=100, gt=0)
    """Each member's prepaid top-up, repeated whenever its balance falls below half of it."""
    tariff: TariffSettings = TariffSettings()
    strategy: Strategy = Strategy()
    battery: CommunityBattery | None = None
    sharing: Sharing | None = None
    """Present for a community that shares (allocation keys) rather than trades."""
    households: tuple[Household, ...] = Field(alias="household", min_length=1)

    @model_validator(mode="after")
    def _names(self) -> Community:
        names = [h.name for h in self.households]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"household names must be unique, repeated: {duplicates}")
        if self.battery is not None:
            unknown = [x.household for x in self.battery.lessees if x.household not in names]
            if unknown:
                raise ValueError(f"battery lessees are not households: {unknown}")
        self.tariff.rules()  # the rulebook's own validation of the tariff
        self._check_sharing()
        return self

    def _check_sharing(self) -> None:
        codes = [h.cups for h in self.households if h.cups is not None]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"cups must be unique, repeated: {repeated}")
        key = self.sharing.key if self.sharing is not None else None
        for h in self.households:
            if key is None and (h.participation_pct != 100 or h.hourly_weights is not None):
                raise ValueError(
                    f"{h.name}: participation_pct and share weights need a [sharing] section"
                )
            if key is Key.DYNAMIC and h.hourly_weights is not None:
                raise ValueError(f"{h.name}: share weights are only used by the static key")
            if key is Key.STATIC and h.hourly_weights is None:
                raise ValueError(
                    f"{h.name}: the static key needs share_weight or share_weights"
                    " (0 for a pure producer)"
                )
        if key is Key.STATIC:
            for hour in range(HOURS_PER_DAY):
                if not any((h.hourly_weights or ())[hour] for h in self.households):
                    raise ValueError(f"share weights: every weight of hour {hour} is 0")

    def member_ids(self) -> dict[str, int]:
        """Each household's member id in the sharing allocation: its position in the file,
        from 1 (the allocation hands out leftover Wh in ascending id, i.e. in file order)."""
        return {h.name: k for k, h in enumerate(self.households, start=1)}

    def cups_by_member_id(self) -> dict[int, str]:
        """The CUPS of every household that has one, by member id."""
        ids = self.member_ids()
        return {ids[h.name]: h.cups for h in self.households if h.cups is not None}

    def static_schedule(self, year: int) -> dict[int, list[int]]:
        """The static key's shares (member id -> ppm for each hour of `year`, 0 = the year's
        first hour), every hour summing to exactly 1,000,000 (`market.coefficients`)."""
        if self.sharing is None or self.sharing.key is not Key.STATIC:
            raise ValueError(f"{self.name} has no static sharing key")
        ids = self.member_ids()
        return daily_schedule({ids[h.name]: h.hourly_weights or () for h in self.households}, year)

    @property
    def slot_seconds(self) -> int:
        return self.slot_minutes * 60

    @property
    def slots_per_day(self) -> int:
        return 86_400 // self.slot_seconds

    @property
    def period_slots(self) -> int:
        return self.period_days * self.slots_per_day

    def settings(self, base: Settings) -> Settings:
        """The deployment settings this community needs, on top of `base` (node access etc.)."""
        return base.model_copy(
            update={
                "slot_seconds": self.slot_seconds,
                "gate_closure_seconds": self.gate_closure_minutes * 60,
                "period_slots": self.period_slots,
                "profit_share_bps": self.profit_share_bps,
                "exit_penalty": self.exit_penalty,
                "lock_in_slots": self.lock_in_days * self.slots_per_day,
                "tariff": self.tariff,
            }
        )

    def deploy_env(self) -> dict[str, str]:
        """The same settings as GRIDSHARE_* variables, for scripts/deploy.py in a subprocess."""
        env = {
            "GRIDSHARE_SLOT_SECONDS": str(self.slot_seconds),
            "GRIDSHARE_GATE_CLOSURE_SECONDS": str(self.gate_closure_minutes * 60),
            "GRIDSHARE_PERIOD_SLOTS": str(self.period_slots),
            "GRIDSHARE_PROFIT_SHARE_BPS": str(self.profit_share_bps),
            "GRIDSHARE_EXIT_PENALTY": str(self.exit_penalty),
            "GRIDSHARE_LOCK_IN_SLOTS": str(self.lock_in_days * self.slots_per_day),
        }
        # An unset sharing_price stays unset: the deployment then uses community_price.
        for key, value in self.tariff.model_dump(exclude_none=True).items():
            env[f"GRIDSHARE_TARIFF__{key.upper()}"] = str(value)
        return env


def _location(error: dict[str, object], data: dict[str, object]) -> str:
    """`household[3] (h04).pv_kwp` rather than `household.3.pv_kwp`."""
    parts: list[str] = []
    loc = list(error.get("loc", ()))  # type: ignore[call-overload]
    for i, part in enumerate(loc):
        if isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
            if i == 1 and loc[0] == "household":
                households = data.get("household")
                if isinstance(households, list) and part < len(households):
                    entry = households[part]
                    if isinstance(entry, dict) and "name" in entry:
                        parts[-1] += f" ({entry['name']})"
        else:
            parts.append(str(part))
    return ".".join(parts) or "(file)"


def parse_community(text: str, source: str = "<community>") -> Community:
    """Parse and validate a community file's text; CommunityFileError on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CommunityFileError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return Community.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(dict(e), data)}: {e['msg']}" for e in exc.errors()]
        raise CommunityFileError(f"{source}: " + "; ".join(problems)) from exc


def load_community(path: Path) -> Community:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommunityFileError(f"cannot read community file {path}: {exc}") from exc
    return parse_community(text, str(path))
