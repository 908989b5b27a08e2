"""Users as a structure of arrays: placement from catalog archetypes, mobility, demand, crowds, handover.

One :class:`UserArrays` holds every user of a run (regular users and the slots of crowd events); nothing is a
Python object per user (DESIGN.md "arrays for many"). Per-archetype parameters live in small lookup arrays
(:class:`ArchetypeTables`) indexed by ``archetype``.

Placement: uniform over the area; ``street_grid`` users are snapped onto the grid's streets. Indoor users
(drawn with the archetype's ``indoor_share``) get ``h_UT = 3 (n_fl - 1) + 1.5 m`` with ``n_fl ~ U{1..N_fl}``,
``N_fl ~ U{4..8}`` (3GPP TR 38.901 Table 7.4.1-1 note, REFERENCES.md §1.6; verify); outdoor users get the
archetype's ``height_m``.

Crowds (:class:`CrowdEvent`): at ``at_s`` the event's users appear uniformly in a disc (``r = R sqrt(u)``,
clipped to the area) and stay there (a gathered crowd is stationary) until ``at_s + duration_s``, when they
leave (inactive, detached from their cell).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents import mobility as _mob
from agents.handover import HandoverParams, HandoverState, step_handover
from agents.traffic import DiurnalProfile, TrafficTable, load_diurnal_profile, traffic_table, update_demand

Area = tuple[float, float, float, float]  # (x0_m, y0_m, width_m, height_m)


def area_of(area) -> Area:
    """Normalise a ``dientine.grid.Grid`` or an ``(x0, y0, width, height)`` tuple to a tuple."""
    if hasattr(area, "x0_m") and hasattr(area, "width_m"):
        return (float(area.x0_m), float(area.y0_m), float(area.width_m), float(area.height_m))
    try:
        x0, y0, w, h = (float(v) for v in area)
    except (TypeError, ValueError):
        raise ValueError(f"area: expected a Grid or (x0_m, y0_m, width_m, height_m), found {area!r}") from None
    if not (np.isfinite([x0, y0, w, h]).all() and w > 0 and h > 0):
        raise ValueError(f"area: expected finite origin and positive width/height, found {area!r}")
    return (x0, y0, w, h)


@dataclass(frozen=True)
class ArchetypeTables:
    """Per-archetype lookup arrays (index = archetype id)."""

    names: tuple[str, ...]
    mobility: np.ndarray     # int8 MOB_*
    speed_kind: np.ndarray   # int8 SPEED_*
    speed_p1: np.ndarray     # low (uniform) or mean (normal), m/s
    speed_p2: np.ndarray     # high (uniform) or std (normal), m/s
    pause_max_s: np.ndarray
    block_m: np.ndarray
    indoor_share: np.ndarray
    height_m: np.ndarray
    traffic: np.ndarray      # int16 traffic id
    max_speed_mps: np.ndarray

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown user archetype '{name}'; known: {list(self.names)}") from None


def archetype_tables(catalog, ttable: TrafficTable) -> ArchetypeTables:
    names = tuple(catalog.users.archetypes)
    n = len(names)
    mob = np.zeros(n, np.int8)
    kind = np.zeros(n, np.int8)
    p1 = np.zeros(n)
    p2 = np.zeros(n)
    pause = np.zeros(n)
    block = np.ones(n)
    indoor = np.zeros(n)
    height = np.zeros(n)
    traffic = np.zeros(n, np.int16)
    vmax = np.zeros(n)
    for j, name in enumerate(names):
        uc = catalog.users.archetypes[name]
        mob[j] = _mob.MOBILITY_CODES[uc.mobility]
        kind[j] = _mob.SPEED_NORMAL if uc.speed_mps.kind == "normal" else _mob.SPEED_UNIFORM
        p1[j], p2[j] = uc.speed_mps.as_pair()
        pause[j] = float(uc.pause_max_s) if uc.pause_max_s is not None else 0.0
        block[j] = float(uc.block_m) if uc.block_m is not None else 1.0
        indoor[j] = float(uc.indoor_share)
        height[j] = float(uc.height_m)
        traffic[j] = ttable.index(uc.traffic)
        vmax[j] = 0.0 if uc.mobility == "stationary" else uc.speed_mps.max_mps
    return ArchetypeTables(names, mob, kind, p1, p2, pause, block, indoor, height, traffic, vmax)


@dataclass
class UserArrays:
    """Every user as parallel arrays of length ``n``."""

    area: Area
    tables: ArchetypeTables
    x_m: np.ndarray
    y_m: np.ndarray
    height_m: np.ndarray
    indoor: np.ndarray
    archetype: np.ndarray      # int16
    mobility: np.ndarray       # int8 (per user: crowd users are stationary)
    speed_mps: np.ndarray
    target_x_m: np.ndarray
    target_y_m: np.ndarray
    pause_s: np.ndarray
    heading: np.ndarray        # int8, street grid direction
    traffic: np.ndarray        # int16
    demand_mbps: np.ndarray
    full_buffer: np.ndarray    # bool
    active: np.ndarray         # bool
    crowd: np.ndarray          # int32 event index, -1 for regular users
    ho: HandoverState = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def n(self) -> int:
        return self.x_m.shape[0]

    @property
    def n_active(self) -> int:
        return int(np.count_nonzero(self.active))

    @classmethod
    def allocate(cls, n: int, area: Area, tables: ArchetypeTables) -> UserArrays:
        return cls(area, tables, np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, bool),
                   np.zeros(n, np.int16), np.zeros(n, np.int8), np.zeros(n), np.zeros(n), np.zeros(n),
                   np.zeros(n), np.zeros(n, np.int8), np.zeros(n, np.int16), np.zeros(n), np.zeros(n, bool),
                   np.zeros(n, bool), np.full(n, -1, np.int32), HandoverState.empty(n))


_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)?\s*$")
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def parse_duration_s(value) -> float:
    """``90``, ``"90s"``, ``"15min"``, ``"3h"``, ``"1d"`` -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _DUR.match(str(value))
    if not m:
        raise ValueError(f"duration: expected a number of seconds or '<n>s|min|h|d', found {value!r}")
    mult = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}[m.group(2)]
    return float(m.group(1)) * mult


def parse_clock_s(value) -> float:
    """``"18:00"`` (time of day 0), a duration string, or seconds -> seconds after the run's midnight."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _CLOCK.match(str(value))
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h > 23 or mi > 59 or s > 59:
            raise ValueError(f"clock time out of range: {value!r}")
        return h * 3600.0 + mi * 60.0 + s
    return parse_duration_s(value)


class CrowdWhere(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    x_m: float
    y_m: float
    radius_m: float = Field(gt=0)


class CrowdEvent(BaseModel):
    """Extra users gathered in a disc during a time window (scenario ``events: - kind: crowd``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    where: CrowdWhere
    users: int = Field(gt=0)
    archetype: str = "pedestrian"

    @model_validator(mode="before")
    @classmethod
    def _scenario_form(cls, data):
        """Accept the scenario form ``{at: "18:00", for: "3h", where: {...}, users, archetype, kind: crowd}``."""
        if isinstance(data, dict):
            d = dict(data)
            kind = d.pop("kind", "crowd")
            if kind != "crowd":
                raise ValueError(f"kind: expected 'crowd', found {kind!r}")
            if "at" in d:
                d["at_s"] = parse_clock_s(d.pop("at"))
            if "for" in d:
                d["duration_s"] = parse_duration_s(d.pop("for"))
            return d
        return data

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


@dataclass
class Population:
    """Users of a run plus the tables and the settings their updates need."""

    users: UserArrays
    traffic_table: TrafficTable
    profile: DiurnalProfile
    handover: HandoverParams
    crowds: tuple[CrowdEvent, ...] = ()
    crowd_slices: tuple[slice, ...] = ()
    crowd_state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # 0 waiting, 1 on, 2 done

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, catalog, groups, area, rng: np.random.Generator, *, crowds=(),
              profile: DiurnalProfile | None = None, handover: HandoverParams | None = None) -> Population:
        """Users for ``groups`` = [(archetype name, count), ...] (or dicts ``{archetype, count}``) placed in
        ``area``, plus inactive slots for each crowd event."""
        ttable = traffic_table(catalog)
        tables = archetype_tables(catalog, ttable)
        box = area_of(area)
        parsed = []
        for g in groups:
            name, count = (g["archetype"], g["count"]) if isinstance(g, dict) else g
            if int(count) != count or count < 0:
                raise ValueError(f"population group '{name}': count must be an integer >= 0, found {count!r}")
            parsed.append((tables.index(name), int(count)))
        events = tuple(e if isinstance(e, CrowdEvent) else CrowdEvent.model_validate(e) for e in crowds)
        for k, e in enumerate(events):
            tables.index(e.archetype)
            if not (box[0] - e.where.radius_m <= e.where.x_m <= box[0] + box[2] + e.where.radius_m
                    and box[1] - e.where.radius_m <= e.where.y_m <= box[1] + box[3] + e.where.radius_m):
                raise ValueError(f"crowd event {k}: disc centre ({e.where.x_m}, {e.where.y_m}) is outside "
                                 f"the area {box}")
        n_regular = sum(c for _, c in parsed)
        n = n_regular + sum(e.users for e in events)
        u = UserArrays.allocate(n, box, tables)
        start = 0
        for a, count in parsed:
            u.archetype[start:start + count] = a
            start += count
        slices = []
        for k, e in enumerate(events):
            sl = slice(start, start + e.users)
            u.archetype[sl] = tables.index(e.archetype)
            u.crowd[sl] = k
            slices.append(sl)
            start += e.users
        u.mobility[:] = tables.mobility[u.archetype]
        u.mobility[u.crowd >= 0] = _mob.MOB_STATIONARY
        u.traffic[:] = tables.traffic[u.archetype]
        pop = cls(u, ttable, profile or load_diurnal_profile(), handover or HandoverParams(), events,
                  tuple(slices), np.zeros(len(events), np.int8))
        regular = np.arange(n_regular)
        pop._place(regular, rng)
        u.active[:n_regular] = True
        return pop

    def _place(self, idx: np.ndarray, rng: np.random.Generator, *, disc: CrowdWhere | None = None) -> None:
        u = self.users
        x0, y0, w, h = u.area
        k = idx.size
        if k == 0:
            return
        if disc is None:
            x = x0 + w * rng.random(k)
            y = y0 + h * rng.random(k)
        else:
            r = disc.radius_m * np.sqrt(rng.random(k))
            phi = 2.0 * np.pi * rng.random(k)
            x = np.clip(disc.x_m + r * np.cos(phi), x0, np.nextafter(x0 + w, x0))
            y = np.clip(disc.y_m + r * np.sin(phi), y0, np.nextafter(y0 + h, y0))
        t = u.tables
        arch = u.archetype[idx]
        grid = (u.mobility[idx] == _mob.MOB_STREET_GRID)
        u.heading[idx] = 0
        for a in np.unique(arch[grid]):
            sel = grid & (arch == a)
            gx, gy, hd = _mob.snap_to_streets(x[sel], y[sel], float(t.block_m[a]), u.area, rng)
            x[sel], y[sel] = gx, gy
            u.heading[idx[sel]] = hd
        u.x_m[idx] = x
        u.y_m[idx] = y
        u.target_x_m[idx] = x0 + w * rng.random(k)
        u.target_y_m[idx] = y0 + h * rng.random(k)
        u.pause_s[idx] = 0.0
        indoor = rng.random(k) < t.indoor_share[arch]
        u.indoor[idx] = indoor
        n_fl_max = rng.integers(4, 8, size=k, endpoint=True)          # N_fl ~ U{4..8}
        n_fl = 1 + np.floor(rng.random(k) * n_fl_max).astype(np.int64)  # n_fl ~ U{1..N_fl}
        u.height_m[idx] = np.where(indoor, 3.0 * (n_fl - 1) + 1.5, t.height_m[arch])
        _mob.draw_speeds(u, idx, rng)
        u.speed_mps[idx[u.mobility[idx] == _mob.MOB_STATIONARY]] = 0.0

    # ------------------------------------------------------------------ per tick
    def apply_crowds(self, t_s: float, rng: np.random.Generator) -> dict[str, int]:
        """Activate crowd events whose window contains ``t_s``, end those past their window."""
        joined = left = 0
        for k, e in enumerate(self.crowds):
            sl = self.crowd_slices[k]
            idx = np.arange(sl.start, sl.stop)
            if self.crowd_state[k] == 0 and e.at_s <= t_s < e.end_s:
                self._place(idx, rng, disc=e.where)
                self.users.active[idx] = True
                self.crowd_state[k] = 1
                joined += idx.size
            elif self.crowd_state[k] in (0, 1) and t_s >= e.end_s:
                if self.crowd_state[k] == 1:
                    left += idx.size
                self.users.active[idx] = False
                self.users.demand_mbps[idx] = 0.0
                self.users.ho.detach(idx)
                self.crowd_state[k] = 2
        return {"joined": joined, "left": left}

    def step_mobility(self, dt_s: float, rng: np.random.Generator, *, parallel: bool | None = None) -> None:
        _mob.step_mobility(self.users, dt_s, rng, parallel=parallel)

    def update_demand(self, t_s: float, dt_s: float, rng: np.random.Generator, *, expected: bool = False) -> None:
        update_demand(self.users, t_s, dt_s, rng, self.traffic_table, self.profile, expected=expected)

    def step_handover(self, rsrp_serving_dbm, best_other_cell, rsrp_best_other_dbm, t_s: float, dt_s: float,
                      **kw) -> dict[str, int]:
        return step_handover(self.users.ho, self.users.active, rsrp_serving_dbm, best_other_cell,
                             rsrp_best_other_dbm, t_s, dt_s, self.handover, **kw)

    def step(self, t_s: float, dt_s: float, rng: np.random.Generator) -> dict[str, int]:
        """Crowds, then mobility over the tick, then demand for the tick (handover needs radio inputs and is
        called separately)."""
        out = self.apply_crowds(t_s, rng)
        self.step_mobility(dt_s, rng)
        self.update_demand(t_s, dt_s, rng)
        return out
