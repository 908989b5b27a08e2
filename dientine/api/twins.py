"""Live twins fed by telemetry: the latest per-cell KPIs of each running twin, held by the API process.

A live twin is created (``POST /v1/twins``) either with its cell ids only (a telemetry buffer) or from a bundled
scenario: then a :class:`SimulationTwin` (a :class:`dientine.sim.Simulation` of the scenario, built in the API
process) is attached. ``ingest`` validates every record first (unknown cell → error naming
``records.<i>.cell_id``; with an attached twin also every KPI name, range and state, ``records.<i>.kpis.load``),
keeps the newest sample per cell and forwards the accepted records to the attached object's
``ingest_telemetry``, where they override the model's per-cell KPIs (:class:`dientine.twin.TelemetryMixin`).
State is in memory: telemetry is an input stream, not a record of runs (runs go to the store).

Clock of a scenario twin: its simulation stands still until ``step`` advances it; between steps the twin's clock
runs with the server's wall clock from the last step (a record measured ``x`` s after the last step is at
``time_s + x`` on the twin's clock; a time ahead of the server's clock counts as now), so telemetry posted after
a step is newer than the model's latest tick and ages out after the twin's ``telemetry_max_age_s``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dientine.store import utcnow


def telemetry_kpis() -> dict[str, tuple[str, float, float, float]]:
    """The KPI names and ranges a twin knows (:data:`dientine.twin.TELEMETRY_KPIS`), imported on first use so the
    API starts without the simulation's kernels; a telemetry-only twin checks these ranges and stores other names."""
    from dientine.twin import TELEMETRY_KPIS

    return TELEMETRY_KPIS


class TelemetryError(ValueError):
    """A telemetry record is inconsistent with its twin; ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TwinLimitError(RuntimeError):
    """The server already holds its maximum number of live twins."""


@dataclass
class Sample:
    time: datetime
    kpis: dict[str, float]
    state: str | None = None


class SimulationTwin:
    """A scenario's simulation held by the API: telemetry in (on the twin's clock, see the module docstring),
    per-cell KPIs (model overlaid with telemetry in force) out, advanced by :meth:`step`."""

    def __init__(self, scenario_name: str, path: Path, *, seed: int | None = None,
                 telemetry_max_age_s: float | None = None) -> None:
        from dientine.scenario import load_scenario
        from dientine.sim import Simulation

        scenario = load_scenario(path)
        if scenario.clock is None:
            raise ValueError(f"scenario {scenario_name!r} has no 'clock' section: a live twin simulates over time")
        self.scenario_name = scenario_name
        self.sim = Simulation(scenario, seed=seed)
        self.twin = self.sim.twin
        if telemetry_max_age_s is not None:
            self.twin.telemetry_max_age_s = float(telemetry_max_age_s)
        self._anchor_wall = utcnow()
        self._anchor_s = self.twin.now_s

    @property
    def cell_ids(self) -> list[str]:
        return [str(c) for c in range(self.twin.n_cells)]

    def clock_s(self, at: datetime | None = None) -> float:
        """The twin's clock at wall time ``at`` (default now), never ahead of the server's clock."""
        now = utcnow()
        at = now if at is None or at > now else at
        return self._anchor_s + (at - self._anchor_wall).total_seconds()

    def _records(self, records: Sequence[Mapping[str, Any]], now_s: float) -> list[dict[str, Any]]:
        out = []
        for r in records:
            rec: dict[str, Any] = {"cell_id": r["cell_id"], "kpis": r.get("kpis") or {},
                                   "time_s": min(self.clock_s(r.get("time")), now_s)}
            if r.get("state") is not None:
                rec["state"] = r["state"]
            out.append(rec)
        return out

    def _call(self, method: str, records: Sequence[Mapping[str, Any]], **kw: Any) -> None:
        from dientine.twin import TelemetryError as TwinTelemetryError

        now = self.clock_s()
        try:
            getattr(self.twin, method)(self._records(records, now), now_s=now, **kw)
        except TwinTelemetryError as exc:
            raise TelemetryError(f"records.{exc.index}.{exc.field}".rstrip("."), exc.message) from None

    def validate_telemetry(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._call("validate_telemetry", records)

    def ingest_telemetry(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._call("ingest_telemetry", records)

    def info(self) -> dict[str, Any]:
        sim = self.sim
        return {"scenario": self.scenario_name, "seed": sim.seed_value, "tick": sim.tick, "n_ticks": sim.n_ticks,
                "time_s": sim.time_s, "telemetry_max_age_s": self.twin.telemetry_max_age_s}

    def step(self, ticks: int) -> int:
        """Advance the simulation up to ``ticks`` ticks (not past its clock's end); returns the ticks done."""
        before = self.sim.tick
        self.sim.run(n_ticks=ticks)
        self._anchor_wall, self._anchor_s = utcnow(), self.twin.now_s
        return self.sim.tick - before

    def kpis(self) -> dict[str, Any]:
        """The per-cell KPI table decisions would read now: the model's latest tick with the telemetry in force."""
        import numpy as np

        sim, tw = self.sim, self.twin
        now = self.clock_s()
        table = tw.telemetry_overlay(sim.cell_kpi_table(), now_s=now)
        force = tw.telemetry_in_force(now_s=now)
        names = [k for k in ("load", "users", "throughput_mbps", "demand_mbps", "unsatisfied_mbps", "power_w",
                             "tx_power_dbm", "tilt_deg", "health", "neighbour_headroom") if k in table]
        cols = {k: np.asarray(table[k], dtype=np.float64).tolist() for k in names}
        cells = []
        for c in range(tw.n_cells):
            measured = sorted(k for k, m in force.items() if m[c])
            cells.append({"cell_id": str(c), "state": str(table["state_name"][c]),
                          "kpis": {k: cols[k][c] for k in names}, "measured": measured})
        return {**self.info(), "now_s": now, "hour": float(sim.hour_of_day), "cells": cells}


@dataclass
class LiveTwin:
    name: str
    cell_ids: frozenset[str]
    created: datetime = field(default_factory=utcnow)
    latest: dict[str, Sample] = field(default_factory=dict)
    records: int = 0
    attached: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, records: Sequence[Mapping[str, Any]], *, now: datetime | None = None,
              max_ahead_s: float | None = None) -> None:
        """Every record's cell, time and contents (see :meth:`ingest`); raises :class:`TelemetryError` at the first
        bad field. ``now`` is the server's clock (default :func:`utcnow`)."""
        now = utcnow() if now is None else now
        max_age = self.attached.twin.telemetry_max_age_s if self.simulated else None
        for i, r in enumerate(records):
            if r["cell_id"] not in self.cell_ids:
                raise TelemetryError(f"records.{i}.cell_id", f"unknown cell {r['cell_id']!r} in twin {self.name!r}")
            if not r.get("kpis") and r.get("state") is None:
                raise TelemetryError(f"records.{i}.kpis", "a record needs measured kpis or a state")
            for name, v in (r.get("kpis") or {}).items():
                spec = telemetry_kpis().get(name)
                if spec is not None and not spec[1] <= v <= spec[2]:
                    lo, hi = spec[1], spec[2]
                    rng = f"[{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
                    raise TelemetryError(f"records.{i}.kpis.{name}", f"expected a number in {rng}, found {v!r}")
            t = r.get("time")
            if t is None:
                continue
            ahead = (t - now).total_seconds()
            if max_ahead_s is not None and ahead > max_ahead_s:
                raise TelemetryError(f"records.{i}.time", f"{t.isoformat()}Z is {ahead:.0f} s ahead of the server's "
                                     f"clock ({now.isoformat()}Z); at most {max_ahead_s:g} s (telemetry_clock_skew_s)"
                                     " is taken as now")
            if max_age is not None and -ahead > max_age:
                raise TelemetryError(f"records.{i}.time", f"{t.isoformat()}Z is {-ahead:.0f} s old: older than the "
                                     f"twin's telemetry_max_age_s ({max_age:g} s), it would never override the model")
        if self.attached is not None and hasattr(self.attached, "validate_telemetry"):
            self.attached.validate_telemetry(records)

    def ingest(self, records: Sequence[Mapping[str, Any]], *, dry_run: bool = False,
               max_ahead_s: float | None = None) -> int:
        """Validate and apply records ``{cell_id, time, kpis, state}`` (naive UTC ``time``, default arrival; a
        time up to ``max_ahead_s`` ahead of the server's clock counts as now, a later one is an error, as is one
        older than a scenario twin's ``telemetry_max_age_s``); all or none. Returns how many were accepted."""
        with self._lock:
            now = utcnow()
            self.check(records, now=now, max_ahead_s=max_ahead_s)
            if dry_run:
                return len(records)
            if self.attached is not None and hasattr(self.attached, "ingest_telemetry"):
                self.attached.ingest_telemetry(list(records))
            for r in records:
                t = min(r.get("time") or now, now)
                prev = self.latest.get(r["cell_id"])
                if prev is None or t >= prev.time:
                    merged = dict(prev.kpis) if prev is not None else {}
                    merged.update(r["kpis"])
                    state = r.get("state") or (prev.state if prev is not None else None)
                    self.latest[r["cell_id"]] = Sample(t, merged, state)
            self.records += len(records)
        return len(records)

    def step(self, ticks: int) -> int:
        with self._lock:
            return self.attached.step(ticks)

    def kpis(self) -> dict[str, Any]:
        with self._lock:
            return {"twin": self.name, **self.attached.kpis()}

    @property
    def lock(self) -> threading.Lock:
        """Held while the twin ingests, steps or is read."""
        return self._lock

    @property
    def simulated(self) -> bool:
        return isinstance(self.attached, SimulationTwin)

    def summary(self) -> dict[str, Any]:
        last = max((s.time for s in self.latest.values()), default=None)
        info = self.attached.info() if self.simulated else {}
        return {"name": self.name, "cells": len(self.cell_ids), "cells_reporting": len(self.latest),
                "records": self.records, "created": self.created, "last_time": last,
                "scenario": info.get("scenario"), "seed": info.get("seed"), "tick": info.get("tick"),
                "n_ticks": info.get("n_ticks"), "time_s": info.get("time_s"),
                "telemetry_max_age_s": info.get("telemetry_max_age_s")}

    def state(self) -> dict[str, Any]:
        with self._lock:
            cells = {c: {"time": s.time, "kpis": dict(s.kpis), "state": s.state}
                     for c, s in sorted(self.latest.items())}
        return {**self.summary(), "latest": cells}


class TwinRegistry:
    def __init__(self, max_twins: int | None = None) -> None:
        self._twins: dict[str, LiveTwin] = {}
        self._lock = threading.Lock()
        self.max_twins = max_twins

    def exists(self, name: str) -> bool:
        return name in self._twins

    def check_room(self, name: str) -> None:
        """Raise ``KeyError`` when ``name`` is taken, :class:`TwinLimitError` when the registry is full (checked
        before a scenario twin is built, which takes seconds, and again by :meth:`create`)."""
        if name in self._twins:
            raise KeyError(f"twin {name!r} already exists")
        if self.max_twins is not None and len(self._twins) >= self.max_twins:
            raise TwinLimitError(f"this server holds at most {self.max_twins} live twins (max_live_twins); "
                                 "delete one or raise max_live_twins")

    def create(self, name: str, cell_ids: Iterable[str], *, attached: Any = None, dry_run: bool = False) -> LiveTwin:
        with self._lock:
            self.check_room(name)
            twin = LiveTwin(name, frozenset(str(c) for c in cell_ids), attached=attached)
            if not dry_run:
                self._twins[name] = twin
            return twin

    def get(self, name: str) -> LiveTwin:
        try:
            return self._twins[name]
        except KeyError:
            raise LookupError(f"twin {name!r}: no such running twin") from None

    def remove(self, name: str) -> LiveTwin:
        """Drop a live twin (``LookupError`` when there is none)."""
        with self._lock:
            if name not in self._twins:
                raise LookupError(f"twin {name!r}: no such running twin")
            return self._twins.pop(name)

    def list(self) -> list[LiveTwin]:
        return [self._twins[k] for k in sorted(self._twins)]
