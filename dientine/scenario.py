"""Scenario files: the pydantic schema of a scenario YAML, loading, and error reports with file and line.

A scenario describes a place (area and raster resolution), a clock, a network (layout, carrier, antenna,
equipment), a population by archetype, decision tables, timed events and regression bounds (``expect``), plus
optional named ``variants`` (what-if overrides of any field). See DESIGN.md "Scenario file".

Every problem is reported at once, each as ``file:line field.path: expected …, found …``. Unknown keys are errors.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOG_PATH = REPO_ROOT / "agents" / "catalog.yaml"
TABLES_DIR = REPO_ROOT / "decisions" / "tables"

PropagationScenario = Literal["UMa", "UMi", "RMa"]
AntennaModel = Literal["tr36814-sector", "tr38901-array", "tr38901-element"]

# --------------------------------------------------------------------------------------------- durations and times
_DURATION_UNITS_S = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)\s*$")
_CLOCK_RE = re.compile(r"^\s*(?:d(\d+)\s+)?([01]?\d|2[0-3]):([0-5]\d)\s*$")


def parse_duration_s(value: Any) -> float:
    """``"24h"``, ``"15min"``, ``"90s"``, ``"2d"`` or a number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '15min', '1h' or '2d', found {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as '15min', '1h' or '2d', found {value!r}")
        seconds = float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"expected a positive duration, found {value!r}")
    return seconds


def parse_clock_time_s(value: Any) -> float:
    """A point in simulated time: ``"18:00"`` (day 0), ``"d2 18:00"`` (day 2) or a duration from the start."""
    text = str(value)
    match = _CLOCK_RE.match(text)
    if match:
        day = int(match.group(1) or 0)
        return day * 86400.0 + int(match.group(2)) * 3600.0 + int(match.group(3)) * 60.0
    try:
        return parse_duration_s(value)
    except ValueError:
        expected = "a time such as '18:00', 'd1 07:30' or a duration like '30h'"
        raise ValueError(f"expected {expected}, found {value!r}") from None


Duration = Annotated[float, Field(description="duration, e.g. '15min', '1h', '2d' or seconds")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------------- sections
class Area(_Strict):
    width_m: float = Field(gt=0, le=200_000)
    height_m: float = Field(gt=0, le=200_000)
    resolution_m: float = Field(gt=0, le=1_000)

    @model_validator(mode="after")
    def _resolution_fits(self) -> Area:
        if self.resolution_m > min(self.width_m, self.height_m):
            raise ValueError(f"resolution_m {self.resolution_m} is larger than the area's smaller side")
        return self


class Clock(_Strict):
    duration: Duration
    tick: Duration
    decision_every: Duration | None = None
    start: str = Field("00:00", description="wall-clock time of day at t = 0, 'HH:MM'")

    @field_validator("duration", "tick", "decision_every", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return None if value is None else parse_duration_s(value)

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if not _CLOCK_RE.match(value) or value.strip().startswith("d"):
            raise ValueError(f"expected a time of day 'HH:MM', found {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Clock:
        if self.tick > self.duration:
            raise ValueError("tick is longer than duration")
        if self.decision_every is not None and self.decision_every < self.tick:
            raise ValueError("decision_every is shorter than tick")
        return self

    @property
    def n_ticks(self) -> int:
        return int(math.ceil(self.duration / self.tick - 1e-9))

    @property
    def start_s(self) -> float:
        return parse_clock_time_s(self.start)


class HexLayout(_Strict):
    rings: int = Field(ge=0, le=10)
    isd_m: float = Field(gt=0, le=100_000)
    sectors: Literal[1, 3] = 3
    wrap_around: bool = False


class Layout(_Strict):
    hex: HexLayout | None = None
    sites: str | None = Field(None, description="CSV of cells, relative to the scenario file")

    @model_validator(mode="after")
    def _exactly_one(self) -> Layout:
        if (self.hex is None) == (self.sites is None):
            raise ValueError("give exactly one of 'hex' or 'sites'")
        return self


class Carrier(_Strict):
    fc_ghz: float = Field(gt=0.5, le=100)
    bandwidth_mhz: float = Field(gt=0, le=400)
    scenario: PropagationScenario = "UMa"
    scs_khz: Literal[15, 30, 60, 120] = 30


#: Default electrical downtilt per antenna model (degrees below the horizon): TR 36.814 Table A.2.1.1-2 case 1
#: (ISD 500 m) uses 15°; TR 38.901 Table 7.8-1 calibration uses a 102° zenith angle, i.e. 12° below the horizon.
DEFAULT_ELEC_TILT_DEG = {"tr36814-sector": 15.0, "tr38901-array": 12.0, "tr38901-element": 0.0}


class Antenna(_Strict):
    model: AntennaModel = "tr36814-sector"
    mech_tilt_deg: float = Field(0.0, ge=-90, le=90)
    elec_tilt_deg: float | None = Field(None, ge=-90, le=90, description="electrical downtilt below the horizon; "
                                        "default by model (36.814: 15°, 38.901 array: 12°)")

    @property
    def elec_tilt_or_default_deg(self) -> float:
        return DEFAULT_ELEC_TILT_DEG[self.model] if self.elec_tilt_deg is None else self.elec_tilt_deg


class Network(_Strict):
    layout: Layout
    carrier: Carrier
    antenna: Antenna = Antenna()
    equipment: str = "macro_rru"
    bs_height_m: float = Field(25.0, gt=0, le=300)
    tx_power_dbm: float = Field(46.0, ge=-30, le=80, description="per cell; default EARTH macro, 6 TRX over 3 "
                                "sectors x 20 W = 40 W (Auer et al. 2011, Table 2)")
    ue_noise_figure_db: float = Field(9.0, ge=0, le=30)
    indoor_fraction: float = Field(0.0, ge=0, le=1, description="share of coverage-map pixels treated as indoor")


class PopulationEntry(_Strict):
    archetype: str
    count: int = Field(ge=0, le=10_000_000)
    traffic: str | None = None


class Where(_Strict):
    x_m: float
    y_m: float
    radius_m: float = Field(gt=0)


class Event(_Strict):
    at: str
    kind: Literal["crowd", "site_failure", "service_launch", "cell_sleep", "cell_wake"]
    where: Where | None = None
    users: int | None = Field(None, ge=1)
    archetype: str | None = None
    site: int | None = Field(None, ge=0)
    cell: int | None = Field(None, ge=0)
    for_: str | None = Field(None, alias="for")
    traffic: str | None = None
    demand_mbps: float | None = Field(None, gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("at")
    @classmethod
    def _at(cls, value: Any) -> str:
        parse_clock_time_s(value)
        return str(value)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: Any) -> str | None:
        if value is not None:
            parse_duration_s(value)
            return str(value)
        return value

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Event:
        needs = {
            "crowd": ("where", "users", "for_"),
            "site_failure": ("site",),
            "service_launch": ("users", "demand_mbps"),
            "cell_sleep": ("cell",),
            "cell_wake": ("cell",),
        }[self.kind]
        missing = [n.rstrip("_") for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"a '{self.kind}' event needs {', '.join(missing)}")
        return self

    @property
    def at_s(self) -> float:
        return parse_clock_time_s(self.at)

    @property
    def duration_s(self) -> float | None:
        return None if self.for_ is None else parse_duration_s(self.for_)


class TrafficProfileSettings(_Strict):
    """The 24-hour diurnal traffic profile: a shipped one by ``name`` (``dientine/data/diurnal_hourly.csv``,
    provenance in ``dientine/data/README.md``) or the scenario's own 24 hourly ``values`` with their ``source``."""

    name: str = "earth_d23_active_users"
    values: list[float] | None = Field(None, description="24 hourly relative loads (rescaled to peak 1)")
    source: str | None = Field(None, description="citation of the values (required with values)")

    @model_validator(mode="after")
    def _values_need_source(self) -> TrafficProfileSettings:
        if self.values is not None:
            if len(self.values) != 24:
                raise ValueError(f"values: expected 24 hourly values, found {len(self.values)}")
            if any(not (math.isfinite(v) and v >= 0) for v in self.values):
                raise ValueError("values: expected finite numbers >= 0")
            if not self.source or not self.source.strip():
                raise ValueError("values need a 'source' (no invented profiles, REFERENCES.md §5.4)")
        return self


class HandoverSettings(_Strict):
    """A3-style handover of users between ticks (``agents.handover``); None = the module's default."""

    hysteresis_db: float | None = Field(None, ge=0, le=20)
    time_to_trigger_s: float | None = Field(None, ge=0, le=3600)


class SimulationSettings(_Strict):
    """How ``dientine.sim`` runs a scenario with a clock. Every field is optional."""

    top_k: int = Field(8, ge=1, le=64, description="strongest cells kept per pixel in the gain cache")
    scheduler: Literal["equal_share", "proportional_fair", "equal_rate"] = "equal_share"
    power_model: Literal["earth", "tr38864"] = "earth"
    se_model: Literal["shannon-36942", "cqi-table1", "cqi-table2"] = "shannon-36942"
    traffic_profile: TrafficProfileSettings = TrafficProfileSettings()
    handover: HandoverSettings = HandoverSettings()
    sensing: bool = Field(True, description="run ISAC sensing of drones each tick")
    wear: bool = Field(True, description="run the hardware wear model (random failures) each tick")
    catalog_overrides: dict[str, float] = Field({}, description="catalog assumption key -> value")
    equipment_overrides: dict[str, float] = Field({}, description="equipment assumption key -> value")


class Bound(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class QosTargets(_Strict):
    """QoS the closed loop must keep (``loop.qos``); outcomes of its actions are measured against these.
    Policy assumptions (no primary source fixes them for a given network), named and overridable."""

    unsatisfied_demand_pct: float = Field(
        1.0, ge=0, le=100, description="assumption: QoS an action may lose: rise of the unserved share of the "
        "demand of the cells it affects (the slept cells' neighbours) over the outcome window, net of the rise "
        "in the unaffected cells, plus new coverage holes [percentage points] (dientine.outcomes)")
    scale_pct: float = Field(1.0, gt=0, le=100, description="assumption: normalising scale of the QoS slack "
                             "[percentage points]")


class GuardSettings(_Strict):
    """How the energy-saving loop plans sleeps and guards QoS (``loop.guard``; :mod:`dientine.loop.energy`). Every
    field is a policy or performance assumption (trading energy saving against QoS risk or solver time), not
    physics; the defaults were chosen on the bundled city day (``scenarios/city_day_energy.yaml``)."""

    replan_level_drop: float = Field(0.2, gt=0, lt=1, description="re-plan when the diurnal level falls by more "
                                     "than this share below the level the plan in force was made for")
    sleep_candidates: int = Field(3, ge=1, le=16, description="candidate servers per demand point of the sleep "
                                  "plan (the strongest of the twin's top-K cache)")
    affected_rank: int = Field(2, ge=1, le=16, description="a user enters the sleep plan when a free cell is "
                               "among its this-many strongest (the cells that take a sleeping cell's users)")
    min_bandwidth_share: float = Field(1e-3, gt=0, le=1, description="smallest share of a cell's bandwidth left "
                                       "to the plan's demand points when other traffic already fills it")
    plan_margin_step: float = Field(0.1, ge=0, le=1, description="the plan's demand is scaled by a margin m >= 1; "
                                    "m rises by this after a window over the QoS target or a plan the guard "
                                    "trimmed, and falls by a quarter of it after a window with half the target "
                                    "to spare")
    plan_margin_max: float = Field(2.0, ge=1, le=10, description="largest plan demand margin m")
    predict_rounds: int = Field(4, ge=0, le=20, description="largest number of trimming checks of the predictive "
                                "guard per decision (bisection over the plan's cells; each costs two tick passes)")
    max_new_sleep: int = Field(8, ge=1, le=100_000, description="largest number of cells put to sleep at one "
                               "epoch (least-loaded first: a staggered entry)")
    predict_target_share: float = Field(0.7, gt=0, le=1, description="share of the QoS target a plan may be "
                                        "predicted to lose (the rest is reserve: the coming ticks draw new demand); "
                                        "the start and largest value of a learned margin")
    predict_share_cut: float = Field(0.7, gt=0, le=1, description="a window over the QoS target multiplies the "
                                     "share above by this")
    predict_share_min: float = Field(0.2, gt=0, le=1, description="the share above never falls below this")
    predict_share_recover: float = Field(0.02, ge=0, le=1, description="a window with half the target to spare "
                                         "adds this to the share above")
    transition_ema: float = Field(0.5, gt=0, le=1, description="weight of the newest measured / predicted loss "
                                  "ratio of a transition tick in its exponential average")
    transition_factor_max: float = Field(6.0, ge=1, le=100, description="largest factor applied to predicted "
                                         "transition-tick losses")
    transition_floor_pct: float = Field(0.1, gt=0, le=100, description="predicted transition losses below this "
                                        "[percentage points] count as this in the ratio")
    predict_rise: float = Field(0.05, ge=0, le=10, description="the plan in force is predicted again when the "
                                "diurnal profile forecasts a demand rise above this share")
    rise_epochs: int = Field(2, ge=0, le=48, description="decision intervals ahead the rise is looked for (no cell "
                             "enters sleep on a rising ramp)")

    @model_validator(mode="after")
    def _consistent(self) -> GuardSettings:
        if self.affected_rank > self.sleep_candidates:
            raise ValueError(f"affected_rank ({self.affected_rank}) must not exceed sleep_candidates "
                             f"({self.sleep_candidates})")
        if self.predict_share_min > self.predict_target_share:
            raise ValueError(f"predict_share_min ({self.predict_share_min}) must not exceed predict_target_share "
                             f"({self.predict_target_share})")
        return self


class IncumbentPoint(_Strict):
    """An incumbent protection point (e.g. a CBRS DPA/FSS/ESC point, REFERENCES.md §5.3): the aggregate
    interference of the network's cells at (x_m, y_m, height_m), in ``ref_bandwidth_mhz``, must stay at or below
    ``threshold_dbm`` while the incumbent is active (between ``active_from`` and ``active_until``)."""

    name: str = Field(min_length=1)
    x_m: float
    y_m: float
    height_m: float = Field(10.0, gt=0, le=1000, description="antenna height of the protected receiver")
    threshold_dbm: float = Field(-144.0, ge=-200, le=0, description="default DPA -144 dBm/10 MHz (WINNF-TS-0112)")
    ref_bandwidth_mhz: float = Field(10.0, gt=0, le=400)
    exclusion_radius_m: float | None = Field(None, gt=0, description="cells inside must vacate the channel")
    active_from: str | None = Field(None, description="'HH:MM' or 'dN HH:MM' (default: from the start)")
    active_until: str | None = Field(None, description="'HH:MM' or 'dN HH:MM' (default: to the end)")

    @field_validator("active_from", "active_until")
    @classmethod
    def _times(cls, value: Any) -> str | None:
        if value is not None:
            parse_clock_time_s(value)
            return str(value)
        return value


class LoopSettings(_Strict):
    """Closed-loop settings (``loop:``; :mod:`dientine.loop`). Every field is optional."""

    coverage_cells: list[int] = Field([], description="always-on coverage cells (never put to sleep)")
    thresholds: dict[str, float] = Field({}, description="initial threshold values (override thresholds.yaml)")
    adapt: bool = Field(True, description="adapt the thresholds from measured outcomes (decisions.feedback)")
    outcome_window: Duration | None = Field(None, description="outcome window (default: the decision interval)")
    qos: QosTargets = QosTargets()
    compare_all_on: bool = Field(False, description="also run the same seed with every cell on (reference)")
    solver_time_limit_s: float = Field(10.0, gt=0, le=3600)
    rho_max: float = Field(0.8, gt=0, le=1, description="assumption: utilisation cap of a cell in sleep plans")
    max_demand_points: int = Field(150, ge=1, le=100_000, description="demand points of a sleep plan (pixels "
                                   "aggregated into blocks beyond this)")
    max_power_backoff_db: float = Field(6.0, ge=0, le=30, description="largest transmit power reduction of "
                                        "one protection step (power solver's default level range, §6.3)")
    restricted_zones: list[Where] = Field([], description="airspace no-fly zones for the drone response table")
    guard: GuardSettings = GuardSettings()
    all_on_shadow: Literal["exact", "sleep_window"] = Field(
        "exact", description="how long the same-tick all-cells-on comparison of the QoS measure runs once started: "
        "'exact' until the real run has caught up with it or no sleep can start before the run ends (every "
        "window compared exactly; between nights a radio pass per tick), 'sleep_window' through the energy "
        "policy's sleep window only (a later night restarts from the real state and is flagged not exact)")

    @field_validator("outcome_window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        return None if value is None else parse_duration_s(value)


class Scenario(_Strict):
    name: str = Field(min_length=1, max_length=200)
    seed: int = Field(ge=0, le=2**63 - 1)
    description: str = ""
    area: Area
    clock: Clock | None = None
    network: Network
    population: list[PopulationEntry] = []
    decisions: list[str] = []
    events: list[Event] = []
    expect: dict[str, Bound] = {}
    variants: dict[str, dict[str, Any]] = {}
    simulation: SimulationSettings = SimulationSettings()
    loop: LoopSettings | None = None
    incumbents: list[IncumbentPoint] = []

    @model_validator(mode="after")
    def _events_need_clock(self) -> Scenario:
        if self.events and self.clock is None:
            raise ValueError("events need a 'clock' section")
        return self


# ------------------------------------------------------------------------------------------------ error reporting
@dataclass(frozen=True)
class Problem:
    """One problem found in a scenario file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """A scenario file has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _line_map(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_map(item, path + (i,), out)
    return out


def _lookup_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    loc = tuple("for" if p == "for_" else p for p in loc)
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _field_info(model: type[BaseModel], loc: tuple):
    """The FieldInfo at ``loc`` inside ``model`` (None when the path leaves pydantic models)."""
    current: Any = model
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        name = "for_" if part == "for" else part
        info = current.model_fields.get(name)
        if info is None:
            return None
        current = _model_in(info.annotation)
    return info


def _model_in(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = _model_in_args(candidate)
        if inner is not None:
            return inner
    return annotation


def _model_in_args(annotation: Any) -> Any:
    for candidate in getattr(annotation, "__args__", ()):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _range_text(info: Any) -> str:
    lo = hi = None
    lo_open = hi_open = False
    for meta in getattr(info, "metadata", []):
        if isinstance(meta, annotated_types.Gt):
            lo, lo_open = meta.gt, True
        elif isinstance(meta, annotated_types.Ge):
            lo, lo_open = meta.ge, False
        elif isinstance(meta, annotated_types.Lt):
            hi, hi_open = meta.lt, True
        elif isinstance(meta, annotated_types.Le):
            hi, hi_open = meta.le, False
    if lo is None and hi is None:
        return ""
    def show(v: float) -> str:
        return str(v) if isinstance(v, int) and abs(v) < 1e6 else f"{v:g}"

    left = ("(" if lo_open else "[") + ("-inf" if lo is None else show(lo))
    right = ("inf" if hi is None else show(hi)) + (")" if hi_open or hi is None else "]")
    return f" in {left}, {right}"


_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _describe(error: dict, info: Any) -> str:
    kind = error["type"]
    found = error.get("input")
    found_text = f"{found!r}" if not isinstance(found, dict | list) else type(found).__name__
    is_int = info is not None and info.annotation is int
    if kind in ("int_parsing", "int_type", "int_from_float") or (is_int and kind in _BOUND_ERRORS):
        return f"expected an integer{_range_text(info)}, found {found_text}"
    if kind in ("float_parsing", "float_type", "finite_number") or kind in _BOUND_ERRORS:
        return f"expected a number{_range_text(info)}, found {found_text}"
    if kind == "extra_forbidden":
        return "unknown key (not part of the scenario schema)"
    if kind == "missing":
        return "required, but missing"
    if kind == "literal_error":
        return f"expected one of {error.get('ctx', {}).get('expected', '')}, found {found_text}"
    if kind in ("string_type",):
        return f"expected text, found {found_text}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, found {found_text}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, found {found_text}"
    if kind == "list_type":
        return f"expected a list, found {found_text}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{error['msg']}, found {found_text}"


def _dotted(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + ("for" if p == "for_" else str(p)))
    return "".join(parts)


# ------------------------------------------------------------------------------------------------ name checks
@lru_cache(maxsize=1)
def _catalog_names() -> dict[str, frozenset[str]]:
    """Names defined by ``agents/catalog.yaml``: user and drone archetypes, traffic classes, equipment."""
    data = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8")) or {}
    users = data.get("users") or {}
    drones = data.get("drones") or {}
    return {
        "users": frozenset((users.get("archetypes") or {}).keys()),
        "drones": frozenset((drones.get("archetypes") or {}).keys()),
        "traffic": frozenset((users.get("traffic_classes") or {}).keys()),
        "equipment": frozenset((data.get("equipment") or {}).keys()),
    }


def _table_names() -> frozenset[str]:
    return frozenset(p.stem for p in TABLES_DIR.glob("*.dmn")) | frozenset(
        p.stem for p in TABLES_DIR.glob("*.yaml") if p.stem != "thresholds")


def _check_names(raw: dict, lines: dict, file: str) -> list[Problem]:
    """Names that refer to the catalog and the bundled tables, checked on the raw data so that they are reported
    together with schema problems."""
    problems: list[Problem] = []
    names = _catalog_names()
    archetypes = names["users"] | names["drones"]

    def check(loc: tuple, kind: str, value: Any, valid: frozenset[str]) -> None:
        if isinstance(value, str) and value not in valid:
            shown = ", ".join(sorted(valid)) or "(none defined)"
            problems.append(Problem(file, _lookup_line(lines, loc), _dotted(loc),
                                    f"unknown {kind} {value!r}; expected one of: {shown}"))

    def items(key: str) -> list[tuple[int, dict]]:
        value = raw.get(key)
        return [(i, e) for i, e in enumerate(value) if isinstance(e, dict)] if isinstance(value, list) else []

    network = raw.get("network")
    if isinstance(network, dict):
        check(("network", "equipment"), "equipment", network.get("equipment", "macro_rru"), names["equipment"])
    for i, entry in items("population"):
        check(("population", i, "archetype"), "archetype", entry.get("archetype"), archetypes)
        if names["traffic"]:
            check(("population", i, "traffic"), "traffic class", entry.get("traffic"), names["traffic"])
    decisions = raw.get("decisions")
    if isinstance(decisions, list):
        tables = _table_names()
        for i, table in enumerate(decisions):
            check(("decisions", i), "decision table", table, tables)
    for i, event in items("events"):
        check(("events", i, "archetype"), "archetype", event.get("archetype"), archetypes)
    return problems


# ---------------------------------------------------------------------------------------------------- loading
class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses YAML anchors and aliases: alias expansion is unbounded ("billion laughs"), and a
    scenario never needs it."""

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not supported", event.start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "YAML anchors are not supported", event.start_mark)
        return super().compose_node(parent, index)


def _read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(str(path), None, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(str(path), None, "", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        node = yaml.compose(text, Loader=_NoAliasLoader)
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(str(path), line, "", f"malformed YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(str(path), None, "", f"malformed YAML: {exc}")]) from None
    if node is None:
        raise ScenarioError([Problem(str(path), None, "", "empty file; expected a scenario mapping")])
    return data, _line_map(node)


def validate_data(data: Any, *, file: str = "<scenario>", lines: dict | None = None) -> Scenario:
    """Validate parsed YAML data; raise :class:`ScenarioError` listing every problem."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, 1, "", f"expected a mapping at the top, found {type(data).__name__}")])
    problems: list[Problem] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            info = _field_info(Scenario, loc)
            problems.append(Problem(file, _lookup_line(lines, loc), _dotted(loc), _describe(error, info)))
    problems += _check_names(data, lines, file)
    if problems or scenario is None:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ScenarioError(problems)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario YAML file (see module docstring)."""
    path = Path(path)
    data, lines = _read_yaml(path)
    scenario = validate_data(data, file=str(path), lines=lines)
    return _resolve_sites(scenario, path, lines)


def load_variants(path: str | Path) -> dict[str, Scenario]:
    """The baseline (key ``"baseline"``) and every named variant of a scenario file, each validated.

    A variant is the baseline with its dotted-path overrides applied (:func:`apply_overrides`); it keeps the
    baseline's seed unless it overrides ``seed``, so baseline and variants see the same random draws.
    Problems of a variant are reported with the variant's name.
    """
    path = Path(path)
    data, lines = _read_yaml(path)
    baseline = _resolve_sites(validate_data(data, file=str(path), lines=lines), path, lines)
    out = {"baseline": baseline}
    base_data = {k: v for k, v in data.items() if k != "variants"}
    for name, overrides in baseline.variants.items():
        if name == "baseline":
            raise ScenarioError([Problem(str(path), _lookup_line(lines, ("variants", name)), f"variants.{name}",
                                         "the name 'baseline' is reserved")])
        try:
            variant_data = apply_overrides(base_data, overrides, where=f"variants.{name}")
        except ValueError as exc:
            raise ScenarioError([Problem(str(path), _lookup_line(lines, ("variants", name)), f"variants.{name}",
                                         str(exc))]) from None
        try:
            variant = validate_data(variant_data, file=f"{path} (variant {name})")
        except ScenarioError as exc:
            for problem in exc.problems:
                object.__setattr__(problem, "line", _lookup_line(lines, ("variants", name)))
            raise
        out[name] = _resolve_sites(variant, path, lines)
    return out


def _resolve_sites(scenario: Scenario, path: Path, lines: dict) -> Scenario:
    """Resolve the sites CSV against the scenario file, then the checks that need the network: every CSV row,
    event targets against the site and cell counts, event times against the clock."""
    if scenario.network.layout.sites is not None:
        sites = (path.parent / scenario.network.layout.sites).resolve()
        object.__setattr__(scenario.network.layout, "sites", str(sites))
        if not sites.is_file():
            raise ScenarioError([Problem(str(path), _lookup_line(lines, ("network", "layout", "sites")),
                                         "network.layout.sites", f"file not found: {sites}")])
    problems = _network_problems(scenario, str(path), lines)
    if problems:
        raise ScenarioError(problems)
    return scenario


def _network_problems(scenario: Scenario, file: str, lines: dict) -> list[Problem]:
    from dientine.layout import LayoutError, load_sites_csv

    net = scenario.network
    problems: list[Problem] = []
    if net.layout.hex is not None:
        rings, sectors = net.layout.hex.rings, net.layout.hex.sectors
        n_sites = 1 + 3 * rings * (rings + 1)
        n_cells = n_sites * sectors
    else:
        try:
            table = load_sites_csv(net.layout.sites, default_height_m=net.bs_height_m,
                                   default_tx_power_dbm=net.tx_power_dbm)
        except LayoutError as exc:
            if not exc.problems:
                return [Problem(file, _lookup_line(lines, ("network", "layout", "sites")), "network.layout.sites",
                                str(exc))]
            return [Problem(f, ln, col, msg) for f, ln, col, msg in exc.problems]
        n_sites, n_cells = table.n_sites, table.n_cells
    clock = scenario.clock
    for i, event in enumerate(scenario.events):
        if event.site is not None and event.site >= n_sites:
            problems.append(Problem(file, _lookup_line(lines, ("events", i, "site")), f"events[{i}].site",
                                    f"expected a site index in [0, {n_sites - 1}], found {event.site}"))
        if event.cell is not None and event.cell >= n_cells:
            problems.append(Problem(file, _lookup_line(lines, ("events", i, "cell")), f"events[{i}].cell",
                                    f"expected a cell index in [0, {n_cells - 1}], found {event.cell}"))
        if clock is not None:
            offset_s = event.at_s - (clock.start_s if _CLOCK_RE.match(event.at) else 0.0)
            # the event's first tick must exist (dientine.events: the tick at or after ``at``)
            if not (offset_s >= 0.0 and math.ceil(offset_s / clock.tick - 1e-9) < clock.n_ticks):
                problems.append(Problem(
                    file, _lookup_line(lines, ("events", i, "at")), f"events[{i}].at",
                    f"expected a time inside the run (start {clock.start}, {clock.duration / 3600:g} h long), "
                    f"found {event.at!r}"))
    return problems


def apply_overrides(data: dict, overrides: dict[str, Any], *, where: str = "variant") -> dict:
    """Return a deep copy of ``data`` with dotted-path overrides applied (``"network.carrier.fc_ghz": 2.6``;
    list items by index, ``"population.0.count": 500``). Unknown paths raise ``ValueError`` naming the path."""
    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ValueError(f"{where}: override path {dotted!r}: no list item {part!r}")
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
                if not last and key not in node:
                    raise ValueError(f"{where}: override path {dotted!r}: no key {part!r}")
            else:
                raise ValueError(f"{where}: override path {dotted!r}: {'.'.join(parts[:i])!r} is not a mapping")
            if last:
                node[key] = value
            else:
                node = node[key]
    return out
